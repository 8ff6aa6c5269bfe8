// Test models from the project's own graph builder, written to temp dirs.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel } from '../../src/models/graph-builder.js';
import { onnxFiles, uuid1, writeMlflowModel } from '../../src/models/mlflow-writer.js';
import type { ZooModel } from '../../src/models/zoo.js';

export function tempDir(prefix = 'mlserve-model-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A bare .onnx file; returns its path. */
export function writeOnnx(model: ZooModel, name = 'model'): string {
  return saveModel(tempDir(), model.builder.toBytes(), `${name}.onnx`);
}

/** An MLflow model directory (weights as external data); returns the dir. */
export function writeMlflowDir(model: ZooModel): string {
  const dir = join(tempDir(), 'model');
  writeMlflowModel(dir, { ...onnxFiles(model.builder.toBytes({ externalDataFile: uuid1() })), signature: model.signature });
  return dir;
}
