import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { LoggingProxy, MlflowPy, registryCalls } from '../helpers/mlflow-live.js';
import { TestDaemon } from '../helpers/daemon.js';

it('explore', async () => {
  const target = process.env.TARGET!;
  const pop = JSON.parse(readFileSync(process.env.POP!, 'utf8'));
  const proxy = await new LoggingProxy(target).start();
  const py = await new MlflowPy(Number(process.env.MAJOR) as 3).start();
  const d = new TestDaemon();
  await d.start();
  const uris = ['models:/LiveOnnx/1', 'models:/LiveOnnx/Production', 'models:/LiveOnnx/latest', 'models:/LiveOnnx@champion', `runs:/${pop.runs.v2}/model`, ...(pop.loggedModels.unregistered ? [`models:/${pop.loggedModels.unregistered}`] : [])];
  let n = 0;
  for (const uri of uris) {
    const from = proxy.calls.length;
    const r = await py.call({ op: 'download', uri, tracking_uri: proxy.url, x: pop.x });
    const pyCalls = proxy.since(from);
    const from2 = proxy.calls.length;
    const dep = await d.deploy(uri, ['--endpoint', `e${n++}`], { MLFLOW_TRACKING_URI: proxy.url });
    const msCalls = proxy.since(from2);
    console.log('=====', uri, JSON.stringify({ version: r.version, files: r.files, err: r.error }), 'mlserve:', dep.exitCode, JSON.stringify(dep.json?.resolved ?? dep.stderr));
    console.log('PY:\n  ' + pyCalls.map((c) => `${c.method} ${c.path}?${c.query} ${c.body} -> ${c.status}`).join('\n  '));
    console.log('MLSERVE:\n  ' + msCalls.map((c) => `${c.method} ${c.path}?${c.query} ${c.body} -> ${c.status}`).join('\n  '));
  }
  await d.cleanup();
  py.close();
  await proxy.close();
}, 300_000);
