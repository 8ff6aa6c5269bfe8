// The files an ONNX model needs besides itself: initializers stored as external data name their
// file (relative to the model's folder) in external_data 'location' entries.
import { readFileSync } from 'node:fs';
import { MlserveError } from '../errors.js';
import { decodeModel } from '../models/onnx-proto.js';

export function externalDataFiles(onnxFile: string): string[] {
  let model;
  try {
    model = decodeModel(readFileSync(onnxFile));
  } catch {
    return []; // not a readable ONNX protobuf: the replica will say so with onnxruntime's own words
  }
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    for (const e of t.externalData ?? []) {
      if (e.key !== 'location' || !e.value) continue;
      if (e.value.startsWith('/') || e.value.split(/[\\/]/).includes('..')) {
        throw new MlserveError('MODEL_SOURCE', `${onnxFile} keeps weights in '${e.value}', outside its folder; mlserve copies only files beside the model`);
      }
      files.add(e.value);
    }
  }
  return [...files];
}
