import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { Flags } from '@oclif/core';
import { Agent, request } from 'undici';
import { BaseCommand } from '../cli/base.js';
import { ControlClient } from '../cli/client.js';
import { detectInventory, requireCudaProvider } from '../daemon/fleet/gpu-inventory.js';
import { formatCheck, runChecks, type Check, type DaemonHealth, type DoctorIO } from '../doctor/checks.js';

type Report = { ok: boolean; checks: Check[] };

export default class Doctor extends BaseCommand {
  static override description = 'Check Node, onnxruntime, GPUs, the MLflow registry, MLSERVE_HOME, the daemon and the ingress port';
  static override examples = ['<%= config.bin %> doctor', 'MLFLOW_TRACKING_URI=http://mlflow:5000 <%= config.bin %> doctor --json'];
  static override flags = {
    host: Flags.string({ description: 'ingress address to check when no daemon runs', default: '127.0.0.1' }),
    port: Flags.integer({ description: 'ingress port to check when no daemon runs', default: 8000, min: 1, max: 65535 }),
    timeout: Flags.integer({ description: 'seconds each network check may take', default: 5, min: 1 }),
  };

  async run(): Promise<Report> {
    const { flags } = await this.parse(Doctor);
    const checks = await runChecks(nodeDoctorIO(), { host: flags.host, port: flags.port, timeoutMs: flags.timeout * 1000 });
    const report = { ok: !checks.some((c) => c.status === 'fail'), checks };
    for (const c of checks) this.say(formatCheck(c));
    if (!report.ok) {
      if (this.jsonEnabled()) this.logJson({ ...report, error: `${checks.filter((c) => c.status === 'fail').length} check(s) failed`, code: 'CHECK_FAILED' });
      else process.stderr.write(`${checks.filter((c) => c.status === 'fail').length} check(s) failed\n`);
      this.exit(1);
    }
    return report;
  }
}

/** The real machine: this process's environment, files, network and onnxruntime-node. */
export function nodeDoctorIO(env: NodeJS.ProcessEnv = process.env): DoctorIO {
  return {
    env,
    cwd: process.cwd(),
    nodeVersion: process.versions.node,
    uid: process.getuid?.(),
    async loadOrt() {
      const ort = await import('onnxruntime-node');
      return { version: ort.env.versions?.node ?? 'unknown', backends: ort.listSupportedBackends() };
    },
    cudaProvider() {
      try {
        requireCudaProvider();
        return { installed: true };
      } catch (err) {
        const m = /install them with: (.+)$/.exec((err as Error).message);
        return { installed: false, command: m ? m[1] : 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js' };
      }
    },
    async gpuInventory() {
      const inv = await detectInventory(env);
      return { count: inv.gpus.length, source: inv.source, simulated: inv.simulated, names: inv.gpus.map((g) => g.name) };
    },
    stat(path) {
      try {
        const s = statSync(path);
        return { mode: s.mode, uid: s.uid, isDirectory: s.isDirectory(), isSocket: s.isSocket() };
      } catch {
        return undefined;
      }
    },
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    async httpGet(url, opts) {
      const agent = new Agent({ connect: { ...opts.tls, timeout: opts.timeoutMs } });
      try {
        const res = await request(url, { method: 'GET', dispatcher: agent, headers: opts.headers, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
        return { status: res.statusCode, body: await res.body.text() };
      } finally {
        await agent.close();
      }
    },
    async daemonHealth(socket) {
      const c = new ControlClient(socket);
      try {
        return await c.call<DaemonHealth>('GET', '/v1/health', undefined, 3000);
      } catch {
        return undefined;
      } finally {
        await c.close();
      }
    },
    pidAlive(pid) {
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
    portInUse(host, port) {
      return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        srv.listen(port, host, () => srv.close(() => resolve(undefined)));
      });
    },
  };
}
