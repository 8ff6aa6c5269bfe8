// The quickstart's demo model: softmax regression trained on Fisher's iris data (iris-model.ts),
// registered in a local MLflow file store as models:/demo/1, stage Production, alias champion.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { registerInFileStore } from './file-store-writer.js';
import { onnxFiles, uuid1 } from './mlflow-writer.js';
import { irisModel } from './iris-model.js';
import { IRIS_CLASSES } from './iris.js';

export const DEMO_MODEL = 'demo';
/** One flower of each species from the data set (setosa, versicolor, virginica), in cm. */
export const DEMO_INPUTS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.2, 2.9, 4.3, 1.3],
  [7.7, 3.0, 6.1, 2.3],
];
export const DEMO_CLASSES = IRIS_CLASSES;

/** Register the demo model unless the store already has it; returns whether it was created. */
export function ensureDemoRegistered(mlrunsRoot: string): boolean {
  if (existsSync(join(mlrunsRoot, 'models', DEMO_MODEL, 'version-1', 'meta.yaml'))) return false;
  const model = irisModel();
  // Save weights as external data, as mlflow.onnx.log_model does by default.
  const built = model.builder.toBytes({ externalDataFile: uuid1() });
  registerInFileStore(mlrunsRoot, {
    name: DEMO_MODEL,
    modelWriter: { ...onnxFiles(built), signature: model.signature },
    stage: 'Production',
    aliases: ['champion'],
    modelDescription: "mlserve quickstart demo: softmax regression on Fisher's iris data (sepal and petal length and width in cm -> probability per species, and the species index)",
    description: 'first version',
    runName: 'demo-iris',
  });
  return true;
}
