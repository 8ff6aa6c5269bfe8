// The error catalogue: one style of code, each with its exit code and a remedy; every command maps
// what it throws onto it (DaemonNotRunning is DAEMON_NOT_RUNNING); the README's table is the catalogue.
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCode, UsageError } from '../../../src/cli/base.js';
import { ControlError, DaemonNotRunning } from '../../../src/cli/client.js';
import { ERROR_CODES, ERRORS, errorTable, exitCodeOf, MlserveError } from '../../../src/errors.js';

describe('the error catalogue', () => {
  it('has codes in one style, each with an exit code, an HTTP status and a remedy', () => {
    expect(ERROR_CODES).toEqual(expect.arrayContaining(['USAGE', 'BAD_REQUEST', 'NOT_FOUND', 'CONFLICT', 'DAEMON_NOT_RUNNING', 'NO_GPU', 'PENDING', 'DEPLOY_FAILED', 'INTERNAL']));
    for (const code of ERROR_CODES) {
      expect(code).toMatch(/^[A-Z]+(_[A-Z]+)*$/);
      const e = ERRORS[code];
      expect([1, 2], code).toContain(e.exit);
      expect(e.status, code).toBeGreaterThanOrEqual(400);
      expect(e.remedy.length, code).toBeGreaterThan(10);
      expect(e.meaning.length, code).toBeGreaterThan(10);
    }
    expect(exitCodeOf('USAGE')).toBe(2);
    expect(exitCodeOf('BAD_REQUEST')).toBe(2);
    expect(exitCodeOf('NOT_FOUND')).toBe(1);
    expect(exitCodeOf('SOMETHING_ELSE')).toBe(1);
  });

  it('maps whatever a command throws onto a catalogue code (DaemonNotRunning included)', () => {
    expect(errorCode(new DaemonNotRunning('/tmp/x/mlserve.sock'))).toBe('DAEMON_NOT_RUNNING');
    expect(new DaemonNotRunning('/tmp/x/mlserve.sock').code).toBe('DAEMON_NOT_RUNNING');
    expect(errorCode(new ControlError('gone', 404, 'NOT_FOUND'))).toBe('NOT_FOUND');
    expect(errorCode(new ControlError('odd', 500))).toBe('INTERNAL');
    expect(errorCode(new ControlError('odd', 500, 'SomethingElse'))).toBe('INTERNAL');
    expect(errorCode(new MlserveError('NO_GPU', 'none'))).toBe('NO_GPU');
    expect(errorCode(new UsageError('bad flag'))).toBe('USAGE');
    expect(errorCode(new TypeError('x is undefined'))).toBe('INTERNAL');
  });

  it('is the table in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(errorTable());
  });

  it('is what every command fails with: no bare fail(message) or JSON error without a code in src/commands', () => {
    const root = new URL('../../../', import.meta.url).pathname;
    const hits = execSync(`grep -rn "this.fail(\\|logJson({.*error" src/commands || true`, { cwd: root, encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    for (const h of hits) {
      if (h.includes('this.fail(')) expect(h, h).toMatch(/this\.fail\((?:'[A-Z_]+'|[a-z.]+\.code|dep\.state)/);
      else expect(h, h).toContain('code:');
    }
  });
});
