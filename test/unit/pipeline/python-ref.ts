// The Python references of the pipeline tests: a snippet run with the pinned `pyfunc` env (Pillow,
// numpy, torchvision), arguments passed as an argument array (no shell), its files in a temp dir.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pythonEnv } from '../../helpers/python.js';

/** Run `code` (python -c) with argv [dir, ...args]; `read` gets the files it wrote there; the dir is removed after. */
export async function withPython<T>(code: string, args: string[], read: (file: (name: string) => Buffer, stdout: string) => T): Promise<T> {
  const python = await pythonEnv('pyfunc');
  const dir = mkdtempSync(join(tmpdir(), 'mlserve-pipeline-ref-'));
  try {
    const stdout = execFileSync(python, ['-c', code, dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, maxBuffer: 16 << 20 });
    return read((name) => readFileSync(join(dir, name)), stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Python prelude: seeded random uint8 images (HxWx3 RGB, or HxW grey), written raw. */
export const PY_IMAGES = String.raw`
import json, os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
cases = json.loads(sys.argv[2])
def make(c):
    rng = np.random.default_rng(c['seed'])
    shape = (c['h'], c['w'], 3) if c.get('mode', 'RGB') == 'RGB' else (c['h'], c['w'])
    if c.get('pattern') == 'extremes':
        a = (rng.integers(0, 2, size=shape, dtype=np.uint8) * 255).astype(np.uint8)
    else:
        a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    with open(os.path.join(out, c['id'] + '.raw'), 'wb') as f:
        f.write(a.tobytes())
    im = Image.fromarray(a)
    assert im.mode == c.get('mode', 'RGB'), im.mode
    assert im.size == (c['w'], c['h'])
    return im
`;
