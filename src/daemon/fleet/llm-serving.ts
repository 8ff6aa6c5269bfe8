// How a runtime of an LLM kind reaches its replicas: per ready replica an engine (frames on its
// pipe for llamacpp, HTTP to the engine URL it reported for openai) and its capacity (slots, or
// max_ongoing_requests). Fed by the replica set's ready handshakes; read by the LLM queue.
import type { LlmAbout } from '../../runtime/llm/protocol.js';
import { FrameEngine, type LlmEngine } from '../dataplane/openai/engine.js';
import { HttpEngine } from '../dataplane/openai/http-engine.js';
import type { LlmServing } from '../dataplane/openai/llm-dispatcher.js';
import type { ReplicaLink } from '../dataplane/replica-link.js';
import type { DeploymentSettings } from '../control/state.js';
import type { ReplicaKind } from './kinds/kind.js';
import { DEFAULT_SLOTS } from './kinds/llamacpp.js';
import { DEFAULT_ENGINE_SLOTS } from './kinds/openai-engine.js';

export interface LlmReplicas extends LlmServing {
  /** A replica reported ready (its `llm` facts in `about`). */
  ready(link: ReplicaLink | null, about: Record<string, unknown> | undefined): void;
}

export function llmReplicas(kind: ReplicaKind, settings: DeploymentSettings): LlmReplicas {
  const engines = new WeakMap<ReplicaLink, { engine: LlmEngine; slots: number }>();
  return {
    ready(link, about) {
      if (!link) return;
      const llm = (about?.llm ?? {}) as Partial<LlmAbout>;
      const slots = llm.slots || settings.llm?.slots || (kind.transport === 'http' ? DEFAULT_ENGINE_SLOTS : DEFAULT_SLOTS);
      const engine = kind.transport === 'http' && llm.baseUrl
        ? new HttpEngine(llm.baseUrl, llm.models?.[0] ?? settings.llm?.engine ?? 'default', link.load)
        : new FrameEngine(link);
      engines.set(link, { engine, slots });
    },
    engineOf: (r) => (r.link ? engines.get(r.link)?.engine ?? null : null),
    capacityOf: (r) => settings.maxOngoingRequests ?? (r.link ? engines.get(r.link)?.slots : undefined) ?? DEFAULT_SLOTS,
  };
}
