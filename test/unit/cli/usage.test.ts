import { describe, expect, it } from 'vitest';
import { usageMessage } from '../../../src/cli/base.js';

describe("usageMessage: oclif's parse errors as one line", () => {
  it.each([
    ['Nonexistent flag: --bogus\nSee more help with --help', 'Nonexistent flag: --bogus'],
    ['Missing 1 required arg:\nsource  model source\nSee more help with --help', 'Missing 1 required arg: source (model source)'],
    ['Parsing --replicas \n\tExpected an integer but received: abc\nSee more help with --help', 'Parsing --replicas: Expected an integer but received: abc'],
    ['The following error occurred:\n  \x1b[2m--canary=5 cannot also be provided when using --replace\x1b[22m\nSee more help with --help', 'The following error occurred: --canary=5 cannot also be provided when using --replace'],
    ['Flag --endpoint expects a value', 'Flag --endpoint expects a value'],
    [
      'Missing 1 required arg:\nsource  model source\nSee more help with --help\n\nNote: --pre, --post allow multiple values. Because of this you need to provide all arguments before providing those flags.\nAlternatively, you can use "--" to signify the end of the flags and the beginning of arguments.',
      'Missing 1 required arg: source (model source)',
    ],
  ])('%j', (text, line) => {
    expect(usageMessage(text)).toBe(line);
  });
});
