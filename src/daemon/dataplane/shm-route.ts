// The HTTP side of client shared memory (shm.ts holds the regions): Triton's register, status and
// unregister paths, and writing the outputs a request asked to receive in a region.
import type http from 'node:http';
import { MlserveError, notFound } from '../../errors.js';
import { encodeBytesTensor } from '../../runtime/frame.js';
import { dataBytes, type Tensor } from '../../tensor.js';
import { readBody } from './body.js';
import { parseJsonBody } from './codecs/json-body.js';
import type { InferResponse } from './codecs/oip-json.js';
import { parseRegistration, type ShmRef } from './codecs/shm-params.js';
import { json, only, type Env, type Reply } from './ingress-env.js';

/**
 * The system shared-memory extension (Triton's HTTP paths): GET [region/<name>/]status,
 * POST region/<name>/register {"key", "offset", "byte_size"}, POST [region/<name>/]unregister.
 */
export async function sharedMemoryRoute(env: Env, req: http.IncomingMessage, method: string, rest: string[], path: string): Promise<Reply> {
  const regions = env.shm;
  if (!regions) throw notFound('client shared memory is off on this daemon (not in the extensions of GET /v2); start it with --allow-client-shm to let local clients register /dev/shm regions');
  const named = rest[0] === 'region' && rest.length === 3 ? rest[1]! : undefined;
  const action = named !== undefined ? rest[2] : rest.length === 1 ? rest[0] : undefined;
  if (action === 'status') return only(method, 'GET', () => json(200, regions.status(named)));
  if (action === 'unregister') {
    return only(method, 'POST', () => {
      regions.unregister(named);
      return json(200, {});
    });
  }
  if (action === 'register' && named !== undefined) {
    if (method !== 'POST') throw new MlserveError('METHOD_NOT_ALLOWED', `use POST for ${path}`);
    const buf = await readBody(req, 64 * 1024, { idleMs: env.limits.bodyTimeoutMs, limitFlag: 'the register limit (64 KiB)' });
    regions.register(named, parseRegistration(parseJsonBody(buf)));
    return json(200, {});
  }
  throw notFound(`no route ${method} ${path}; the shared-memory paths are /v2/systemsharedmemory/[region/<name>/]status, /v2/systemsharedmemory/region/<name>/register and /v2/systemsharedmemory/[region/<name>/]unregister`);
}

/** Outputs the request asked to receive in shared memory: written there, and answered with their parameters instead of data. */
export function writeShmOutputs(env: Env, body: InferResponse, outputs: Tensor[], refs: Record<string, ShmRef>): InferResponse {
  const regions = env.shm!;
  return {
    ...body,
    outputs: body.outputs.map((o) => {
      const ref = refs[o.name];
      if (!ref) return o;
      const t = outputs.find((x) => x.name === o.name)!;
      const bytes = Array.isArray(t.data) ? encodeBytesTensor(t.data) : dataBytes(t.data);
      regions.write(ref, bytes, `output '${o.name}'`);
      return { name: o.name, datatype: o.datatype, shape: o.shape, parameters: { shared_memory_region: ref.region, shared_memory_byte_size: bytes.byteLength, ...(ref.offset ? { shared_memory_offset: ref.offset } : {}) } };
    }) as InferResponse['outputs'],
  };
}
