// PURE: messages about a model name the file the operator gave, not the daemon's cached copy of it
// ($MLSERVE_HOME/cache/...): onnxruntime's "Load model from <cache path> failed" becomes
// "Load model from ./bad.onnx failed" (as given), a registry model's files read as models:/Name/1/...
import { dirname } from 'node:path';
import type { DeploymentRow } from '../control/state.js';

export function operatorPaths(message: string, row: Pick<DeploymentRow, 'modelDir' | 'modelFile' | 'modelUri' | 'resolved'>): string {
  if (!row.modelDir) return message;
  if (row.resolved.kind !== 'path') return message.split(row.modelDir).join(row.modelUri.replace(/\/+$/, ''));
  const given = row.modelUri;
  const source = row.resolved.source ?? given;
  // A bare model file: its copy is the one file of the cached folder that the replica loads.
  if (/\.onnx$/i.test(source) && row.modelFile !== row.modelDir) {
    return message.split(row.modelFile).join(given).split(row.modelDir).join(dirname(source));
  }
  return message.split(row.modelDir).join(given.replace(/\/+$/, ''));
}
