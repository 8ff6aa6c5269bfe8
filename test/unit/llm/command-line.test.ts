import { describe, expect, it } from 'vitest';
import { checkEngineCommand, splitCommandLine, substitute } from '../../../src/daemon/fleet/kinds/command-line.js';
import { engineCommand } from '../../../src/daemon/fleet/kinds/openai-engine.js';

describe('engine command lines: split like a shell splits words, never run by one', () => {
  it.each([
    ['plain words', 'vllm serve /m --port {port}', ['vllm', 'serve', '/m', '--port', '{port}']],
    ['runs of spaces and tabs', '  a \t b  ', ['a', 'b']],
    ['single quotes are literal', "python -c 'print(\"$HOME\")'", ['python', '-c', 'print("$HOME")']],
    ['double quotes keep spaces', 'serve "/models/My Model" x', ['serve', '/models/My Model', 'x']],
    ['escapes inside double quotes', 'a "q\\"uote \\\\ \\$"', ['a', 'q"uote \\ $']],
    ['a backslash outside quotes', 'a my\\ model', ['a', 'my model']],
    ['quotes join within a word', "--x='a b'\"c\"", ['--x=a bc']],
    ['an empty quoted argument', "a '' b", ['a', '', 'b']],
    ['JSON in single quotes', `x --cfg '{"t": 1}'`, ['x', '--cfg', '{"t": 1}']],
  ])('%s', (_n, line, argv) => {
    expect(splitCommandLine(line)).toEqual(argv);
  });

  it.each([
    ['a pipe', 'a | b', /shell syntax/],
    ['a redirection', 'a > log', /shell syntax/],
    ['a sequence', 'a; b', /shell syntax/],
    ['a background job', 'a &', /shell syntax/],
    ['a variable', 'a $HOME', /shell syntax/],
    ['a command substitution in double quotes', 'a "$(id)"', /need a shell/],
    ['backticks', 'a `id`', /shell syntax/],
    ['an unterminated quote', "a 'b", /unterminated/],
    ['an empty command', '   ', /empty/],
  ])('refuses %s', (_n, line, why) => {
    expect(() => splitCommandLine(line)).toThrow(why);
  });

  it('substitutes placeholders per argument, leaving {port} for the replica', () => {
    expect(substitute(['--model', '{model}', '--port={port}', '-g', '{gpu_share}'], { model: '/m y/x.gguf', gpu_share: '0.5' }, ['port']))
      .toEqual(['--model', '/m y/x.gguf', '--port={port}', '-g', '0.5']);
    expect(() => substitute(['{modle}'], {})).toThrow(/unknown placeholder \{modle\}/);
    expect(substitute(['{"a": 1}'], {})).toEqual(['{"a": 1}']);
  });

  it('checks a command at deploy time: it must take {port}', () => {
    expect(checkEngineCommand('python -m llama_cpp.server --model {model} --port {port}')).toHaveLength(7);
    expect(() => checkEngineCommand('python -m llama_cpp.server --model {model}')).toThrow(/must pass \{port\}/);
  });

  it('vLLM gets the replica\'s GPU share as --gpu-memory-utilization', () => {
    expect(engineCommand({ engine: 'vllm' })).toEqual(['vllm', 'serve', '{model}', '--host', '{host}', '--port', '{port}', '--gpu-memory-utilization', '{gpu_share}']);
    expect(engineCommand({ engine: 'vllm', ctxSize: 8192 })).toContain('--max-model-len');
  });
});
