import { describe, expect, it } from 'vitest';
import { mallocEnv, NODE_FLAGS } from '../../../src/daemon/process-tuning.js';

describe('process tuning for the daemon and ONNX replicas', () => {
  it.each([
    ['nothing set: both thresholds', {}, { MALLOC_MMAP_THRESHOLD_: String(64 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024) }],
    ['the operator\'s own value wins (not overridden, not repeated)', { MALLOC_TRIM_THRESHOLD_: '0' }, { MALLOC_MMAP_THRESHOLD_: String(64 * 1024 * 1024) }],
    ['both set: nothing to add', { MALLOC_TRIM_THRESHOLD_: '1', MALLOC_MMAP_THRESHOLD_: '2' }, {}],
    ['unrelated variables are not copied', { PATH: '/bin' }, { MALLOC_MMAP_THRESHOLD_: String(64 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024) }],
  ])('%s', (_what, env: Record<string, string>, want) => {
    expect(mallocEnv(env)).toEqual(want);
  });

  it('node flags are V8 heap settings only (no flag that changes behaviour or exposes an inspector)', () => {
    for (const f of NODE_FLAGS) expect(f).toMatch(/^--(initial-old-space-size|max-semi-space-size)=\d+$/);
  });
});
