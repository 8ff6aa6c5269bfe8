// Captured requests as CloudEvents in KServe's payload-logger format (binary content mode: ce-*
// headers, the payload as the JSON body): one event of type org.kubeflow.serving.inference.request
// with the request's inputs and one of type ...inference.response with its outputs, both with the
// request id as ce-id, so a sink that takes KServe's logger (e.g. a Knative broker or a small HTTP
// collector) takes mlserve's. PURE: what to send; the capture shell sends it.
import type { Tensor } from '../../tensor.js';
import { mlflowRequestRows, type CaptureRecord } from './rows.js';

export const REQUEST_EVENT = 'org.kubeflow.serving.inference.request';
export const RESPONSE_EVENT = 'org.kubeflow.serving.inference.response';

export interface OutgoingEvent {
  headers: Record<string, string>;
  body: string;
}

const oip = (ts: Tensor[]) => ts.map((t) => ({
  name: t.name, datatype: t.datatype, shape: t.shape,
  data: Array.isArray(t.data) ? t.data : Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)),
}));

function headers(rec: CaptureRecord, type: string, source: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': rec.requestId,
    'ce-type': type,
    'ce-source': source,
    'ce-time': new Date(rec.ts).toISOString(),
    'ce-inferenceservicename': rec.endpoint,
    'ce-endpoint': rec.deployment,
    'ce-component': 'predictor',
    'ce-modelversion': rec.version,
  };
}

/** The request and response events of one captured record; `dropped` inputs are left out of the request. */
export function cloudEvents(rec: CaptureRecord, source: string, dropped: readonly string[] = []): [OutgoingEvent, OutgoingEvent] {
  const drop = new Set(dropped);
  const request = Array.isArray(rec.inputs)
    ? JSON.stringify({ id: rec.requestId, inputs: oip(rec.inputs.filter((t) => !drop.has(t.name))) })
    : drop.size === 0 ? rec.inputs.mlflowJson : withoutColumns(rec.inputs.mlflowJson, drop);
  const response = Array.isArray(rec.outputs)
    ? JSON.stringify({ model_name: rec.endpoint, model_version: rec.version, id: rec.requestId, outputs: oip(rec.outputs) })
    : rec.outputs.mlflowJson;
  return [
    { headers: headers(rec, REQUEST_EVENT, source), body: request },
    { headers: headers(rec, RESPONSE_EVENT, source), body: response },
  ];
}

/** MLflow JSON without the dropped columns, as dataframe_records (or nothing, when it does not parse). */
function withoutColumns(body: string, drop: Set<string>): string {
  let rows;
  try {
    rows = mlflowRequestRows(JSON.parse(body));
  } catch {
    rows = null;
  }
  return JSON.stringify({ dataframe_records: (rows ?? []).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !drop.has(k)))) });
}
