// The Python replica kind: any MLflow model with the python_function flavor (scikit-learn, PyTorch,
// transformers, custom PythonModel), loaded with mlflow.pyfunc.load_model in a Python process
// (src/runtime/python/mlserve_replica.py) that speaks the same frame protocol as the onnx replica.
// Tensors cross as numpy views over the frame; /invocations bodies go through as they came and are
// parsed by MLflow's own scoring-server code in the replica, so answers equal `mlflow models serve`.
import { MLFLOW_REQUEST_TENSOR, PYTHON_REPLICA_MAIN, type PythonReplicaConfig } from '../../../runtime/python/index.js';
import type { Signature, Tensor } from '../../../tensor.js';
import type { ReplicaKind, SpawnInput, SpawnPlan } from './kind.js';

/** The interpreter when a deployment names none: MLSERVE_PYTHON, else python3 on PATH. */
export const defaultPython = (env: NodeJS.ProcessEnv = process.env): string => env.MLSERVE_PYTHON || 'python3';

/** Does this batch carry raw /invocations bodies (MLflow's scoring protocol)? */
export const isMlflowPassthrough = (inputs: readonly Pick<Tensor, 'name'>[]): boolean => inputs.length === 1 && inputs[0].name === MLFLOW_REQUEST_TENSOR;

export const pythonKind: ReplicaKind = {
  name: 'python',
  platform: 'mlflow',
  spawnPlan(input: SpawnInput): SpawnPlan {
    const cfg: PythonReplicaConfig = {
      deployment: input.deployment,
      replica: input.replica,
      modelDir: input.modelDir,
      threads: input.threads,
      concurrency: input.concurrency,
      ...(input.gpuShare !== undefined ? { gpuFraction: input.gpuShare } : {}),
      ...(input.warmup === false ? { warmup: false } : {}),
    };
    return {
      command: input.interpreter ?? defaultPython(),
      args: [PYTHON_REPLICA_MAIN, JSON.stringify(cfg)],
      // Unbuffered output keeps the replica's log in step with what it does.
      env: { ...(input.gpuEnv ?? {}), PYTHONUNBUFFERED: '1' },
      // The interpreter's own environment decides what it imports, not the daemon's.
      removeEnv: ['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP'],
      ...(input.workDir ? { cwd: input.workDir } : {}),
    };
  },
  /** The replica reads MLflow's signature itself (with the types numpy and pandas give): its report wins. */
  metadata: (_declared: Signature | null, reported: Signature) => reported,
  /** Rows of DataFrames or arrays concatenate when every input has a variable first dimension. */
  batchable: (spec: Signature) => spec.inputs.length > 0 && spec.inputs.every((s) => s.shape.length > 0 && s.shape[0] === -1),
  batchHeader(inputs, rows) {
    if (isMlflowPassthrough(inputs)) return { reply: 'mlflow' };
    return { reply: 'tensors', requests: rows };
  },
};
