// The replica kinds mlserve knows, by name.
import { MlserveError } from '../../../errors.js';
import type { ReplicaKind } from './kind.js';
import { llamacppKind } from './llamacpp.js';
import { onnxKind } from './onnx.js';
import { openaiKind } from './openai-engine.js';
import { pythonKind } from './python.js';

const KINDS: Record<string, ReplicaKind> = { onnx: onnxKind, python: pythonKind, llamacpp: llamacppKind, openai: openaiKind };

export const KIND_NAMES = Object.keys(KINDS);

export function kindOf(name: string | undefined): ReplicaKind {
  const k = KINDS[name ?? 'onnx'];
  if (!k) throw new MlserveError('BAD_REQUEST', `unknown runtime '${name}'; mlserve runs: ${KIND_NAMES.join(', ')}`);
  return k;
}

/** The kind, or undefined for a name this mlserve does not know (status must not fail on a bad row). */
export function findKind(name: string | undefined): ReplicaKind | undefined {
  return KINDS[name ?? 'onnx'];
}
