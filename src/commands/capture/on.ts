import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import type { CaptureSettings } from '../../daemon/capture/settings.js';

export default class CaptureOn extends BaseCommand {
  static override description = "Record a sample of an endpoint's requests and answers (Parquet files under $MLSERVE_HOME/capture/<endpoint>/, and/or CloudEvents to a URL), off the request path";
  static override args = { endpoint: Args.string({ description: 'endpoint name', required: true }) };
  static override flags = {
    sample: Flags.string({ description: 'share of requests to record: 5%, 0.5%, 100% (or a fraction, 0.05)', required: true }),
    'max-bytes': Flags.string({ description: "retention: the endpoint's capture files total at most this (oldest removed first)", default: '1gb' }),
    'max-age': Flags.string({ description: 'retention: remove files older than this (90m, 12h, 7d)', default: '7d' }),
    'drop-inputs': Flags.string({ description: 'inputs never recorded, comma-separated (tensor or column names)' }),
    url: Flags.string({ description: "also send each request and response as CloudEvents (KServe's logger format) to this http(s) URL" }),
    files: Flags.boolean({ description: 'write Parquet files (--no-files with --url: only send events)', default: true, allowNo: true }),
  };
  static override examples = [
    '<%= config.bin %> capture on iris --sample 5%',
    '<%= config.bin %> capture on iris --sample 100% --drop-inputs email,phone --max-bytes 20gb --max-age 30d',
    '<%= config.bin %> capture on iris --sample 10% --url http://localhost:8080/events',
  ];

  async run(): Promise<{ endpoint: string; settings: CaptureSettings; dir: string | null }> {
    const { args, flags } = await this.parse(CaptureOn);
    const r = await this.client.call<{ endpoint: string; settings: CaptureSettings; dir: string | null }>('POST', `/v1/capture/${encodeURIComponent(args.endpoint)}`, {
      sample: flags.sample, maxBytes: flags['max-bytes'], maxAge: flags['max-age'], files: flags.files,
      ...(flags['drop-inputs'] !== undefined ? { dropInputs: flags['drop-inputs'] } : {}),
      ...(flags.url !== undefined ? { url: flags.url } : {}),
    });
    const to = [r.dir ? `${r.dir}/` : null, r.settings.url].filter(Boolean).join(' and ');
    this.say(`${r.endpoint}: capturing ${Number((r.settings.sample * 100).toPrecision(4))}% of requests to ${to}`);
    if (r.settings.dropInputs.length) this.say(`never recorded: ${r.settings.dropInputs.join(', ')}`);
    return r;
  }
}
