// PURE: an engine command line (`--engine-cmd '...'`) split into argv without a shell, and its
// placeholders ({port}, {model}, ...) substituted per argument, so a model path with spaces stays
// one argument and nothing is ever interpreted by a shell. Quoting follows the POSIX shell's
// rules for words: '...' is literal, "..." allows \" \\ \$ \` escapes, a backslash outside quotes
// escapes the next character. Shell syntax (pipes, redirections, ;, &, $(...), backticks,
// variables) is refused: there is no shell to run it.
import { MlserveError } from '../../../errors.js';

export const PLACEHOLDERS = ['port', 'host', 'model', 'gpu_share', 'ctx_size', 'slots', 'threads'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

const bad = (msg: string) => new MlserveError('BAD_REQUEST', `--engine-cmd: ${msg}`);
const OPERATORS = new Set(['|', ';', '&', '<', '>', '`']);

/** Split a command line into arguments, as a shell would split words (no expansion of any kind). */
export function splitCommandLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw bad(`unterminated ' quote in ${JSON.stringify(line)}`);
      cur += line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw bad(`unterminated " quote in ${JSON.stringify(line)}`);
        const d = line[i];
        if (d === '"') break;
        if (d === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1])) {
          if (line[i + 1] !== '\n') cur += line[i + 1];
          i += 2;
          continue;
        }
        if (d === '$' || d === '`') throw bad(`${d === '$' ? 'variables and $(...)' : 'backticks'} need a shell, and none runs the engine; write the value itself`);
        cur += d;
        i++;
      }
      i++;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw bad('a trailing backslash escapes nothing');
      if (line[i + 1] !== '\n') cur += line[i + 1];
      i += 2;
    } else if (OPERATORS.has(c) || c === '$') {
      throw bad(`'${c}' is shell syntax (pipes, redirections, ;, &, variables); the engine runs without a shell. Quote it if it is part of an argument`);
    } else {
      cur += c;
      i++;
    }
  }
  if (inWord) out.push(cur);
  if (out.length === 0) throw bad('the command is empty');
  return out;
}

/**
 * Replace {name} placeholders in every argument. Placeholders in `later` stay as they are (the
 * replica fills {port} once it has the port); an unknown {name} is an error (a typo would
 * otherwise reach the engine).
 */
export function substitute(argv: readonly string[], values: Partial<Record<Placeholder, string>>, later: readonly Placeholder[] = []): string[] {
  return argv.map((arg) => arg.replace(/\{([a-z_]+)\}/g, (whole, name: string) => {
    if (later.includes(name as Placeholder)) return whole;
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) throw bad(`unknown placeholder ${whole}; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
    const v = values[name as Placeholder];
    if (v === undefined) throw bad(`${whole} has no value here`);
    return v;
  }));
}

/** Check a command line at deploy time: it parses, names only known placeholders, and takes {port}. */
export function checkEngineCommand(line: string): string[] {
  const argv = splitCommandLine(line);
  const all = Object.fromEntries(PLACEHOLDERS.map((p) => [p, 'x'])) as Record<Placeholder, string>;
  substitute(argv, all);
  if (!argv.some((a) => a.includes('{port}'))) throw bad('the command must pass {port} to the engine: mlserve picks the port, starts the engine on it and sends requests there');
  return argv;
}
