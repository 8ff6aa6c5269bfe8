// `canary promote|rollback --registry-alias/--registry-stage`: the flags, the MLflow variables the
// CLI sends with them (as deploy does: credentials travel to the daemon, which keeps them in
// memory for this one call), and what the command prints about the write-back.
import { Flags } from '@oclif/core';
import type { BaseCommand } from './base.js';
import { MLFLOW_CLIENT_ENV } from '../mlflow/rest-config.js';
import type { WriteOutcome } from '../mlflow/write-back.js';

export const registryWriteFlags = {
  'registry-alias': Flags.string({ description: 'then set this MLflow alias (e.g. champion) on the version that serves, in the registry it came from' }),
  'registry-stage': Flags.string({ description: 'then move the version that serves to this MLflow stage (Staging or Production; others there are archived)' }),
};

/** The request body's write-back part (empty without the flags). */
export function registryWriteBody(flags: { 'registry-alias'?: string; 'registry-stage'?: string }): Record<string, unknown> {
  if (flags['registry-alias'] === undefined && flags['registry-stage'] === undefined) return {};
  const env: Record<string, string> = {};
  for (const k of MLFLOW_CLIENT_ENV) if (process.env[k]) env[k] = process.env[k]!;
  return { registryAlias: flags['registry-alias'], registryStage: flags['registry-stage'], env, cwd: process.cwd() };
}

/** The line about the write-back (stdout when it worked; the caller fails with it when not). */
export function writeLine(w: WriteOutcome): string {
  const what = [w.alias !== undefined ? `alias ${w.alias}` : '', w.stage !== undefined ? `stage ${w.stage}` : ''].filter(Boolean).join(' and ');
  return w.ok
    ? `MLflow: ${what} now on version ${w.version} of ${w.name} (${w.registry})`
    : `the ${what} write-back failed, mlserve's change stands: MLflow at ${w.registry} did not set ${what} on version ${w.version} of ${w.name}: ${w.error}`;
}

/** Print the write-back's outcome; a failed one ends the command with exit 1 (JSON: the error plus the endpoint). */
export function reportWrite<T extends { registryWrite?: WriteOutcome }>(cmd: BaseCommand, e: T): T {
  const w = e.registryWrite;
  if (!w) return e;
  if (w.ok) {
    cmd.say(writeLine(w));
    return e;
  }
  if (cmd.jsonEnabled()) {
    process.stdout.write(`${JSON.stringify({ error: writeLine(w), code: 'REGISTRY_WRITE', ...e })}\n`);
    cmd.exit(1);
  }
  return cmd.fail('REGISTRY_WRITE', writeLine(w));
}
