// The README's commands and flags work as written: every `mlserve <command> --flag` it shows (in
// code blocks and inline code) names a command of the manifest and flags that command takes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const manifest = JSON.parse(readFileSync(new URL('../../../oclif.manifest.json', import.meta.url), 'utf8')) as {
  commands: Record<string, { flags: Record<string, { char?: string; allowNo?: boolean }> }>;
};
// oclif's own plugins (their flags are theirs).
const PLUGINS = ['version', 'help', 'autocomplete'];

/** Every `mlserve ...` invocation the README shows, up to a pipe, a comment or the end of the code. */
function invocations(): string[] {
  const out: string[] = [];
  const code = [...readme.matchAll(/```(?:sh)?\n([^]*?)```/g)].map((m) => m[1].replace(/\\\n\s*/g, ' '));
  const inline = [...readme.matchAll(/`([^`\n]*mlserve [^`\n]*)`/g)].map((m) => m[1]);
  for (const text of [...code, ...inline]) {
    for (const m of text.matchAll(/(?:^|[\s(;&|$])(?:npx )?mlserve ((?:[^|#;&)\n'"]|'[^']*'|"[^"]*")+)/g)) {
      // `mlserve 0.1.0  pid ...` is top's header, `mlserve <cmd> --help` a placeholder.
      if (!/^(\d|<)/.test(m[1])) out.push(m[1].trim());
    }
  }
  return out;
}

describe('README', () => {
  const calls = invocations();

  it('shows many mlserve commands', () => {
    expect(calls.length).toBeGreaterThan(40);
  });

  it.each(calls.map((c) => [c]))('mlserve %s', (call) => {
    // A quoted argument is one value (`--engine-cmd 'srv -m {model}'`): its words are not mlserve's flags.
    const words = call.replace(/'[^']*'|"[^"]*"/g, 'VALUE').split(/\s+/).filter((w) => !w.startsWith('<') && !w.startsWith('['));
    // The longest run of leading words that is a command id (`canary set`, `daemon start`).
    let id = '';
    for (let n = Math.min(3, words.length); n > 0; n--) {
      const candidate = words.slice(0, n).join(':');
      if (manifest.commands[candidate]) {
        id = candidate;
        break;
      }
    }
    if (!id) {
      // `daemon start|stop|status`, `canary set|status|...`, `models [show <name>]`: each alternative is a command.
      const alts = words[1]?.includes('|') ? words[1].split('|').map((w) => `${words[0]}:${w}`) : [];
      if (alts.length) {
        for (const a of alts) expect(manifest.commands[a], a).toBeDefined();
        return;
      }
      expect(PLUGINS.includes(words[0]) || manifest.commands[words[0]] !== undefined || Object.keys(manifest.commands).some((k) => k.startsWith(`${words[0]}:`)), `no command in 'mlserve ${call}'`).toBe(true);
      return;
    }
    const flags = manifest.commands[id].flags;
    for (const w of words) {
      const f = /^--(no-)?([a-z][a-z0-9-]*)(?:=|$)/.exec(w);
      if (f) {
        const flag = flags[f[2]];
        expect(flag, `'mlserve ${call}': ${id.replace(/:/g, ' ')} has no --${f[2]}`).toBeDefined();
        if (f[1]) expect(flag.allowNo, `'mlserve ${call}': --no-${f[2]}`).toBe(true);
      }
      const short = /^-([a-zA-Z])$/.exec(w);
      if (short) expect(Object.values(flags).some((x) => x.char === short[1]), `'mlserve ${call}': -${short[1]}`).toBe(true);
    }
  });
});
