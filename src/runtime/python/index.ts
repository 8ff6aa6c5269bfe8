// The Python replica (mlserve_replica.py beside this module; scripts/copy-python.mjs copies it into
// dist/runtime/python/): how to start it and the messages it speaks over the frame protocol of
// ../frame.ts. It is spawned like the ONNX replica, `<python> mlserve_replica.py '<config json>'` with
// stdio ['ignore', log, log, 'pipe'], and exits 0 when fd 3 closes.
import { fileURLToPath } from 'node:url';
import type { TensorSpec } from '../../tensor.js';

export const PYTHON_REPLICA_MAIN: string = fileURLToPath(new URL('./mlserve_replica.py', import.meta.url));

/** The one BYTES tensor of an `reply: 'mlflow'` infer: one raw /invocations JSON body per request. */
export const MLFLOW_REQUEST_TENSOR = '__mlflow_request__';
/** BYTES, one per request: the JSON body MLflow's scoring server would answer. */
export const MLFLOW_JSON_TENSOR = '__mlflow_json__';
/** INT32, one per request: the HTTP status MLflow's scoring server would answer. */
export const MLFLOW_STATUS_TENSOR = '__status__';

/** Passed as the one JSON argument (never through a shell). */
export interface PythonReplicaConfig {
  deployment: string;
  replica: number;
  /** A local MLflow model directory (the one holding MLmodel). */
  modelDir: string;
  /** OMP/MKL/OPENBLAS_NUM_THREADS (unless already set) and torch.set_num_threads. */
  threads?: number;
  /** Predictions run at once (default 1); pings are answered while they run. */
  concurrency?: number;
  /** torch.cuda.set_per_process_memory_fraction(gpuFraction, 0) before the model loads (CUDA only). */
  gpuFraction?: number;
  /** false: no warm-up predict before ready (it runs only for models with a signature). */
  warmup?: boolean;
}

export type ToPythonReplica =
  | { t: 'ping'; id: number }
  | {
    t: 'infer';
    id: number;
    /**
     * 'tensors': the frame's tensors are the model input (Open Inference Protocol), batched requests
     * already concatenated along dim 0; the result carries the output tensors.
     * 'mlflow': the frame carries MLFLOW_REQUEST_TENSOR; the result carries MLFLOW_JSON_TENSOR and
     * MLFLOW_STATUS_TENSOR, one element per request.
     */
    reply: 'tensors' | 'mlflow';
    /** Rows per batched request ('tensors'); with more than one, the output rows must add up. */
    requests?: number[];
    /** predict(..., params=params) when the model has a params schema ('tensors'). */
    params?: Record<string, unknown>;
    /** Only these output tensors ('tensors'). */
    outputs?: string[];
  };

export interface PythonModelInfo {
  version: string;
  mlflow: string;
  flavors: string[];
  signature: 'columns' | 'tensors' | 'none';
  params: Array<{ name: string; type: string; default: unknown; shape: number[] | null }> | null;
}

export type FromPythonReplica =
  | { t: 'ready'; inputs: TensorSpec[]; outputs: TensorSpec[]; loadMs: number; pid: number; python: PythonModelInfo; warmupMs?: number }
  | { t: 'fatal'; message: string }
  /** `batched` ('mlflow' only): how many of the requests were answered from one shared predict. */
  | { t: 'result'; id: number; computeMs: number; batched?: number }
  | { t: 'error'; id: number; message: string }
  | { t: 'pong'; id: number };
