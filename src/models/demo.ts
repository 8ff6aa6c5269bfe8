// The quickstart's demo model: a small MLP (4 features -> 3 classes, like iris) registered in a
// local MLflow file store as models:/demo/1, stage Production, alias champion.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { registerInFileStore } from './file-store-writer.js';
import { onnxFiles, uuid1 } from './mlflow-writer.js';
import { mlp } from './zoo.js';

export const DEMO_MODEL = 'demo';
export const DEMO_INPUTS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.2, 2.9, 4.3, 1.3],
  [7.7, 3.0, 6.1, 2.3],
];

/** Register the demo model unless the store already has it; returns whether it was created. */
export function ensureDemoRegistered(mlrunsRoot: string): boolean {
  if (existsSync(join(mlrunsRoot, 'models', DEMO_MODEL, 'version-1', 'meta.yaml'))) return false;
  const model = mlp({ seed: 42, sizes: [4, 64, 64, 3] });
  // Save weights as external data, as mlflow.onnx.log_model does by default.
  const built = model.builder.toBytes({ externalDataFile: uuid1() });
  registerInFileStore(mlrunsRoot, {
    name: DEMO_MODEL,
    modelWriter: { ...onnxFiles(built), signature: model.signature },
    stage: 'Production',
    aliases: ['champion'],
    modelDescription: 'mlserve quickstart demo: an MLP from 4 features to 3 class scores',
    description: 'first version',
    runName: 'demo-mlp',
  });
  return true;
}
