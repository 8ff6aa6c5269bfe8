// How the daemon talks to one LLM replica, whatever its transport: `generate` streams text pieces
// into a sink until done or error, `cancel` stops it (the replica frees the slot and still reports
// done), `embed` answers once. FrameEngine speaks the frame protocol over the replica's pipe
// (the llamacpp kind); http-engine.ts speaks OpenAI's HTTP API to an external server (the openai kind).
import { MlserveError } from '../../../errors.js';
import { LlmRequestError, type FinishReason, type GenerateRequest, type KvUse, type Usage } from '../../../runtime/llm/protocol.js';
import type { FromReplica } from '../../../runtime/protocol.js';
import type { Tensor } from '../../../tensor.js';
import { ReplicaLinkClosed, type ReplicaLink } from '../replica-link.js';

export interface TokenSink {
  /** A piece of generated text (`tokens`: how many tokens it carries). */
  onToken(text: string, tokens: number): void;
  onDone(finish: FinishReason, usage: Usage, kv?: KvUse): void;
  /** The generation failed: LlmRequestError (the client's fault), EngineLost (the replica went away), or another Error. */
  onError(err: Error): void;
}

export interface Generation {
  cancel(): void;
}

export interface Embeddings {
  vectors: Float32Array;
  dims: number;
  usage: Usage;
}

export interface LlmEngine {
  generate(req: GenerateRequest, sink: TokenSink): Generation;
  embed(input: string[]): Promise<Embeddings>;
}

/** The replica went away while it held the request (crash, stop, broken connection). */
export class EngineLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineLost';
  }
}

/** A replica's error frame as an Error: a client error keeps its status and code. */
export function replicaError(msg: { message: string; code?: string; status?: number; param?: string }): Error {
  if (msg.status !== undefined && msg.status >= 400 && msg.status < 500) return new LlmRequestError(msg.message, msg.status, msg.code ?? 'invalid_request', msg.param ?? null);
  return new MlserveError('INTERNAL', `the engine failed: ${msg.message}`);
}

/** The llamacpp kind: generations as streams of frames on the replica's pipe. */
export class FrameEngine implements LlmEngine {
  constructor(private readonly link: ReplicaLink) {}

  generate(req: GenerateRequest, sink: TokenSink): Generation {
    let id = 0;
    try {
      id = this.link.stream({ t: 'generate', request: req }, {
        onFrame: (msg: FromReplica) => {
          if (msg.t === 'token') {
            sink.onToken(msg.text, msg.tokens);
            return false;
          }
          if (msg.t === 'done') sink.onDone(msg.finishReason, msg.usage, msg.kv);
          else if (msg.t === 'error') sink.onError(replicaError(msg));
          else return false;
          return true;
        },
        onClosed: (reason) => sink.onError(new EngineLost(reason)),
      });
    } catch (err) {
      queueMicrotask(() => sink.onError(err instanceof ReplicaLinkClosed ? new EngineLost(err.message) : (err as Error)));
    }
    return { cancel: () => this.link.cancel(id) };
  }

  embed(input: string[]): Promise<Embeddings> {
    return new Promise((resolve, reject) => {
      try {
        this.link.stream({ t: 'embed', input }, {
          onFrame: (msg: FromReplica, tensors: Tensor[]) => {
            if (msg.t === 'embeddings') {
              const t = tensors[0];
              if (!t || t.datatype !== 'FP32') reject(new MlserveError('INTERNAL', 'the replica answered embeddings without its FP32 tensor'));
              else resolve({ vectors: t.data as Float32Array, dims: t.shape[1] ?? 0, usage: msg.usage });
            } else if (msg.t === 'error') reject(replicaError(msg));
            else return false;
            return true;
          },
          onClosed: (reason) => reject(new EngineLost(reason)),
        });
      } catch (err) {
        reject(err instanceof ReplicaLinkClosed ? new EngineLost(err.message) : err);
      }
    });
  }
}
