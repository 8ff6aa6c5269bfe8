// The base of every command: --json, the control client, and every error as a code of the one
// catalogue (src/errors.ts): one clear line (one line of JSON, {"error", "code"}, with --json) and
// the code's exit status: 2 for usage errors and refused values, 1 for the rest.
import { Command, type Interfaces } from '@oclif/core';
import { ControlClient, ControlError, DaemonNotRunning } from './client.js';
import { exitCodeOf, isErrorCode, MlserveError, type ErrorCode } from '../errors.js';

type FlagOutput = { [name: string]: any };
type ArgOutput = { [name: string]: any };

/** Flags or arguments the command cannot take: exit 2, code USAGE. */
export class UsageError extends Error {
  readonly code = 'USAGE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * PURE: oclif's parse error text as one line: no colours, no "See more help with --help" (the
 * caller adds its own hint), the argument list of "Missing 1 required arg:" as `name (description)`.
 */
export function usageMessage(text: string): string {
  const lines = text
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help with --help$/i.test(l))
    // oclif's advice for greedy multi-value flags; mlserve's (--pre, --post) take one value per flag, so args may follow them.
    .filter((l) => !/^Note: .* allows? multiple values\./.test(l) && !/^Alternatively, you can use "--" to signify the end of the flags/.test(l));
  return lines
    .map((l, i) => (i > 0 && /^\S+\s{2,}\S/.test(l) ? l.replace(/^(\S+)\s{2,}(.*)$/, '$1 ($2)') : /^Parsing --\S+$/.test(l) ? `${l}:` : l))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

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

  /** A failure the operator can fix: one plain message on stderr (JSON on stdout with --json), exit by its code. */
  fail(code: ErrorCode, message: string): never {
    if (code === 'USAGE') this.usageFailure(message);
    if (this.jsonEnabled()) this.jsonError({ error: message, code });
    else process.stderr.write(`Error: ${message}\n`);
    this.exit(exitCodeOf(code));
  }

  /** Progress goes to stderr so that stdout stays clean for pipes. */
  progress(text: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${text}\n`);
  }

  /** Every parse failure (oclif's CLIError family, a flag's own parse error) is a usage error. */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv);
    } catch (err) {
      throw new UsageError(usageMessage(err instanceof Error ? err.message : String(err)));
    }
  }

  /** An error as one line of JSON on stdout (scripts read it with one JSON.parse per line). */
  private jsonError(body: { error: string; code?: string }): void {
    process.stdout.write(`${JSON.stringify(body)}\n`);
  }

  /** A usage error: `{"error", "code": "USAGE"}` with --json, else the message and a hint; exit 2. */
  private usageFailure(message: string): never {
    if (this.jsonEnabled()) this.jsonError({ error: message, code: 'USAGE' });
    else process.stderr.write(`Error: ${message}\nsee ${[this.config.bin, ...(this.id?.split(':') ?? []), '--help'].join(' ')}\n`);
    this.exit(2);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number }; code?: string }): Promise<unknown> {
    // this.exit(n) after we already printed what went wrong: leave with that code, print nothing more.
    if (err.code === 'EEXIT') throw err;
    if (err instanceof UsageError) this.usageFailure(err.message);
    const code = errorCode(err);
    if (code === 'USAGE') this.usageFailure(err.message);
    if (code === 'INTERNAL' && process.env.DEBUG) process.stderr.write(`${err.stack ?? err.message}\n`);
    // One plain line (no oclif wrapping, no stack): scripts and people both read it.
    this.fail(code, err.message);
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await this._client?.close();
    return super.finally(err);
  }
}

/** The catalogue code of anything a command throws: its own code, DAEMON_NOT_RUNNING, else INTERNAL. */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof DaemonNotRunning) return 'DAEMON_NOT_RUNNING';
  if (err instanceof MlserveError || err instanceof ControlError || err instanceof UsageError) {
    const code = (err as { code?: unknown }).code;
    return isErrorCode(code) ? code : 'INTERNAL';
  }
  return 'INTERNAL';
}
