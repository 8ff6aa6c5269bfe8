// One onnxruntime-node session: load from the model's file path (so external weight files beside
// model.onnx resolve), describe its inputs and outputs, run a batch.
import * as ort from 'onnxruntime-node';
import { DTYPE_TO_ORT, dtypeFromOrt, type Tensor, type TensorData, type TensorSpec } from '../tensor.js';

export interface LoadedModel {
  session: ort.InferenceSession;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`model value '${m.name}' is not a tensor (sequences and maps are not supported)`);
    const datatype = dtypeFromOrt(m.type);
    if (!datatype) throw new Error(`model value '${m.name}' has type ${m.type}, which mlserve does not support`);
    return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

export async function loadModel(file: string, opts: { threads?: number; providers?: string[] } = {}): Promise<LoadedModel> {
  const session = await ort.InferenceSession.create(file, {
    executionProviders: opts.providers && opts.providers.length > 0 ? opts.providers : ['cpu'],
    intraOpNumThreads: opts.threads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  return { session, inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
}

export async function runModel(model: LoadedModel, inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) {
    feeds[t.name] = new ort.Tensor(DTYPE_TO_ORT[t.datatype] as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape);
  }
  const names = outputNames && outputNames.length > 0 ? outputNames : model.outputs.map((o) => o.name);
  const result = await model.session.run(feeds, names);
  return names.map((name) => {
    const out = result[name];
    const datatype = dtypeFromOrt(out.type);
    if (!datatype) throw new Error(`output '${name}' has type ${out.type}, which mlserve does not support`);
    return { name, datatype, shape: out.dims.map(Number), data: out.data as TensorData };
  });
}
