// The base of every command: --json, the control client, errors as one clear line and exit 1.
import { Command } from '@oclif/core';
import { ControlClient, ControlError, DaemonNotRunning } from './client.js';
import { MlserveError } from '../errors.js';

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;
  private _client?: ControlClient;

  get client(): ControlClient {
    this._client ??= new ControlClient();
    return this._client;
  }

  /** Human output: printed unless --json (then the command's return value is printed). */
  say(text: string): void {
    if (!this.jsonEnabled()) this.log(text);
  }

  /** A failure the operator can fix: one plain message on stderr, then exit 1 (2 for usage). */
  fail(message: string, exit = 1): never {
    if (this.jsonEnabled()) this.logJson({ error: message });
    else process.stderr.write(`Error: ${message}\n`);
    this.exit(exit);
  }

  /** Progress goes to stderr so that stdout stays clean for pipes. */
  progress(text: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${text}\n`);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number }; code?: string }): Promise<unknown> {
    // this.exit(n) after we already printed what went wrong: leave with that code, print nothing more.
    if (err.code === 'EEXIT') throw err;
    if (err instanceof DaemonNotRunning || err instanceof ControlError || err instanceof MlserveError) {
      if (this.jsonEnabled()) {
        this.logJson({ error: err.message, code: (err as ControlError).code ?? err.name });
        this.exit(1);
      }
      // One plain line (no oclif wrapping): scripts and people both read it.
      process.stderr.write(`Error: ${err.message}\n`);
      this.exit(1);
    }
    return super.catch(err);
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await this._client?.close();
    return super.finally(err);
  }
}
