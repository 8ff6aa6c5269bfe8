// A Triton model repository for a plain .onnx deployment (KServe serves the `onnx` model format
// with Triton): `<model>/config.pbtxt` and `<model>/1/model.onnx`, plus the model's external-data
// weight files beside it. The model is named after the mlserve endpoint, so clients keep calling
// POST /v2/models/<endpoint>/infer. PURE: the files to write are described, the command writes them.
import type { DType, Signature, TensorSpec } from '../tensor.js';

const TRITON_TYPE: Record<DType, string> = {
  BOOL: 'TYPE_BOOL', UINT8: 'TYPE_UINT8', UINT16: 'TYPE_UINT16', UINT32: 'TYPE_UINT32', UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8', INT16: 'TYPE_INT16', INT32: 'TYPE_INT32', INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16', FP32: 'TYPE_FP32', FP64: 'TYPE_FP64', BYTES: 'TYPE_STRING',
};

export interface TritonModelOptions {
  /** The Triton model name (the mlserve endpoint). */
  name: string;
  /** Inputs and outputs as served (null: Triton completes the config from the model itself). */
  signature: Signature | null;
  /** mlserve's batching: max rows per batch (unset: 32 when batchable), wait for batch-mates, batches at once. */
  maxBatchSize?: number;
  batchWaitMs?: number;
  maxConcurrentBatches?: number;
  gpu: boolean;
}

/** Triton batches along dim 0 when every input and output has a dynamic first dimension (as mlserve does). */
function batchable(sig: Signature): boolean {
  const dyn = (s: TensorSpec) => s.shape.length > 0 && s.shape[0] === -1;
  return sig.inputs.length > 0 && sig.outputs.length > 0 && sig.inputs.every(dyn) && sig.outputs.every(dyn);
}

/** config.pbtxt (protobuf text format) for onnxruntime_onnx. */
export function tritonConfig(o: TritonModelOptions): string {
  const sig = o.signature;
  const batch = sig !== null && batchable(sig);
  const maxBatch = batch ? (o.maxBatchSize ?? 32) : 0;
  const lines = [`name: "${o.name}"`, 'platform: "onnxruntime_onnx"', `max_batch_size: ${maxBatch}`];
  const tensor = (s: TensorSpec) => {
    const dims = batch ? s.shape.slice(1) : s.shape;
    return `  {\n    name: "${s.name}"\n    data_type: ${TRITON_TYPE[s.datatype]}\n    dims: [ ${(dims.length ? dims : [1]).join(', ')} ]\n  }`;
  };
  if (sig) {
    lines.push(`input [\n${sig.inputs.map(tensor).join(',\n')}\n]`);
    lines.push(`output [\n${sig.outputs.map(tensor).join(',\n')}\n]`);
  }
  if (batch) {
    const delay = o.batchWaitMs ? `max_queue_delay_microseconds: ${Math.round(o.batchWaitMs * 1000)} ` : '';
    lines.push(`dynamic_batching { ${delay}}`);
  }
  lines.push(`instance_group [ { count: ${o.maxConcurrentBatches ?? 1} kind: ${o.gpu ? 'KIND_GPU' : 'KIND_CPU'} } ]`);
  return `${lines.join('\n')}\n`;
}

/** Where each file of the repository goes, relative to its root. */
export function tritonLayout(name: string, externalData: string[]): { config: string; model: string; weights: Array<{ rel: string; to: string }> } {
  return {
    config: `${name}/config.pbtxt`,
    model: `${name}/1/model.onnx`,
    weights: externalData.map((rel) => ({ rel, to: `${name}/1/${rel}` })),
  };
}
