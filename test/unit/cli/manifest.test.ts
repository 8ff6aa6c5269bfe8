// The committed oclif.manifest.json must match what the build generates from the commands.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';
import { describe, expect, it } from 'vitest';

describe('oclif.manifest.json', () => {
  it('is up to date with the built commands (run npm run build and commit it)', async () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
    await plugin.load();
    const committed = JSON.parse(readFileSync(new URL('../../../oclif.manifest.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(plugin.manifest)));
    expect(Object.keys(committed.commands).sort()).toEqual(
      ['apply', 'bench', 'cache:ls', 'cache:prune', 'canary:promote', 'canary:rollback', 'canary:set', 'canary:shadow', 'canary:start', 'canary:status', 'capture:off', 'capture:on', 'capture:status', 'config', 'daemon:start', 'daemon:status', 'daemon:stop', 'deploy', 'doctor', 'drift', 'events', 'export:kserve', 'gpus', 'init', 'logs', 'models', 'models:show', 'quickstart', 'scale', 'status', 'top', 'undeploy'],
    );
  });
});
