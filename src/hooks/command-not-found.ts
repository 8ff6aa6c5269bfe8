// An unknown command (or a stray argument oclif reads as a subcommand: `status extra`) is a usage
// error like any other: one line, exit 2, and one line of JSON on stdout with --json.
import type { Hook } from '@oclif/core';

const hook: Hook<'command_not_found'> = async function (opts) {
  const words = opts.id.split(':').join(' ');
  const message = `'${opts.config.bin} ${words}' is not a command`;
  const json = (opts.argv ?? []).includes('--json');
  if (json) process.stdout.write(`${JSON.stringify({ error: message, code: 'USAGE' })}\n`);
  else process.stderr.write(`Error: ${message}\nsee ${opts.config.bin} --help\n`);
  this.exit(2);
};

export default hook;
