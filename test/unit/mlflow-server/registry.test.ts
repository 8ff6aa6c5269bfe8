// Beyond the recorded exchanges: the 3.x logged-model shape, the state helpers, and the write
// endpoints (stages, aliases, create) with MLflow's validation.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadIds, serverArtifactsDir } from '../../mlflow-server/fixtures.js';
import { startMlflowServer, type MlflowTestServer } from '../../mlflow-server/server.js';
import { rawRequest } from './client.js';

const ids = loadIds();
const FIXTURE_MODEL = join(serverArtifactsDir(), ids.model_dir_artifact_path);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let server: MlflowTestServer;
beforeEach(async () => {
  server = await startMlflowServer();
});
afterEach(async () => {
  await server.close();
});

const get = async (path: string) => {
  const res = await rawRequest(server.url, path);
  return { status: res.status, json: JSON.parse(res.text) as Record<string, any> };
};
const post = async (path: string, body: unknown, method = 'POST', contentType = 'application/json') => {
  const res = await rawRequest(server.url, path, { method, headers: { 'Content-Type': contentType }, body: JSON.stringify(body) });
  return { status: res.status, json: JSON.parse(res.text) as Record<string, any> };
};

describe('3.x logged-model shape', () => {
  it('registers models:/m-<id>, answers storage_location as download URI, serves the files through mlflow-artifacts', async () => {
    const mv = server.state.addModelVersion({ name: 'Vision3', shape: '3.x', copyFrom: FIXTURE_MODEL, stage: 'Production', aliases: ['champion'] });
    const modelId = mv.source.slice('models:/'.length);
    expect(mv.source).toMatch(/^models:\/m-[0-9a-f]{32}$/);

    const { json: got } = await get('/api/2.0/mlflow/model-versions/get?name=Vision3&version=1');
    expect(got.model_version).toMatchObject({ name: 'Vision3', version: '1', current_stage: 'Production', source: mv.source, run_id: mv.run_id, aliases: ['champion'] });
    expect(got.model_version).not.toHaveProperty('model_id'); // the OSS server never fills it

    const artifactUri = `mlflow-artifacts:/0/models/${modelId}/artifacts`;
    expect((await get('/api/2.0/mlflow/model-versions/get-download-uri?name=Vision3&version=1')).json).toEqual({ artifact_uri: artifactUri });

    const { status, json: logged } = await get(`/api/2.0/mlflow/logged-models/${modelId}`);
    expect(status).toBe(200);
    expect(logged.model.info).toMatchObject({ model_id: modelId, experiment_id: '0', artifact_uri: artifactUri, status: 'LOGGED_MODEL_READY', source_run_id: mv.run_id });
    expect(typeof logged.model.info.creation_timestamp_ms).toBe('number');

    const listing = await get(`/api/2.0/mlflow-artifacts/artifacts?path=0/models/${modelId}/artifacts`);
    const names = (listing.json.files as Array<{ path: string }>).map((f) => f.path);
    expect(names).toEqual(readdirSync(FIXTURE_MODEL).sort());
    for (const file of ['MLmodel', 'model.onnx', ids.external_data_file]) {
      const dl = await rawRequest(server.url, `/api/2.0/mlflow-artifacts/artifacts/0/models/${modelId}/artifacts/${file}`);
      expect([dl.status, dl.sha256]).toEqual([200, sha(readFileSync(join(FIXTURE_MODEL, file)))]);
    }
    const dirs = await get(`/api/2.0/mlflow/logged-models/${modelId}/artifacts/directories`);
    expect(dirs.json.root_uri).toBe(artifactUri);
    expect(dirs.json.files).toContainEqual({ path: 'metadata', is_dir: true });
    const alias = await get('/api/2.0/mlflow/registered-models/alias?name=Vision3&alias=champion');
    expect(alias.json.model_version.source).toBe(mv.source);
  });

  it('answers a missing logged model with RESOURCE_DOES_NOT_EXIST', async () => {
    const res = await get('/api/2.0/mlflow/logged-models/m-00000000000000000000000000000000');
    expect(res).toEqual({ status: 404, json: { error_code: 'RESOURCE_DOES_NOT_EXIST', message: "Logged model with ID 'm-00000000000000000000000000000000' not found." } });
  });

  it('REST create with a models:/m-<id> source resolves storage_location like the 3.x store', async () => {
    const logged = server.state.addLoggedModel({ sourceRunId: ids.resnet50_v1_run_id });
    expect((await post('/api/2.0/mlflow/registered-models/create', { name: 'Fresh' })).status).toBe(200);
    const created = await post('/api/2.0/mlflow/model-versions/create', { name: 'Fresh', source: `models:/${logged.model_id}` });
    expect(created.json.model_version).toMatchObject({ name: 'Fresh', version: '1', current_stage: 'None', run_id: ids.resnet50_v1_run_id, status: 'READY' });
    expect((await get('/api/2.0/mlflow/model-versions/get-download-uri?name=Fresh&version=1')).json.artifact_uri).toBe(logged.artifact_uri);
  });
});

describe('2.x helpers and write endpoints', () => {
  it('addModelVersion (2.x) writes files under mlflow-artifacts:/0/<run>/artifacts/model', async () => {
    const mv = server.state.addModelVersion({ name: 'ResNet50', files: { MLmodel: 'flavors: {}\n', 'model.onnx': Buffer.from([1, 2, 3]) }, tags: { team: 'vision' } });
    expect(mv.version).toBe(3);
    expect(mv.source).toBe(`mlflow-artifacts:/0/${mv.run_id}/artifacts/model`);
    const dl = await rawRequest(server.url, `/api/2.0/mlflow-artifacts/artifacts/0/${mv.run_id}/artifacts/model/model.onnx`);
    expect([...dl.body]).toEqual([1, 2, 3]);
    expect((await get(`/api/2.0/mlflow/runs/get?run_id=${mv.run_id}`)).json.run.info.artifact_uri).toBe(`mlflow-artifacts:/0/${mv.run_id}/artifacts`);
    expect((await get('/api/2.0/mlflow/model-versions/get?name=ResNet50&version=3')).json.model_version.tags).toEqual([{ key: 'team', value: 'vision' }]);
  });

  it('transition-stage with archive_existing_versions archives the old Production version', async () => {
    server.state.addModelVersion({ name: 'ResNet50', copyFrom: FIXTURE_MODEL });
    const res = await post('/api/2.0/mlflow/model-versions/transition-stage', { name: 'ResNet50', version: '3', stage: 'production', archive_existing_versions: true });
    expect(res.json.model_version).toMatchObject({ version: '3', current_stage: 'Production' });
    expect((await get('/api/2.0/mlflow/model-versions/get?name=ResNet50&version=1')).json.model_version.current_stage).toBe('Archived');
    const latest = await post('/api/2.0/mlflow/registered-models/get-latest-versions', { name: 'ResNet50', stages: ['Production', 'Archived'] });
    // Stages come in the order the store first meets them walking versions upwards: v1 (Archived), v3 (Production).
    expect(latest.json.model_versions.map((v: { version: string }) => v.version)).toEqual(['1', '3']);
    const bad = await post('/api/2.0/mlflow/model-versions/transition-stage', { name: 'ResNet50', version: '3', stage: 'None', archive_existing_versions: true });
    expect(bad.status).toBe(500);
    expect(bad.json.message).toBe(
      "Model version transition cannot archive existing model versions because 'None' is not an Active stage. Valid stages are ['Staging', 'Production']",
    );
  });

  it('sets and deletes aliases (POST / DELETE with a JSON body)', async () => {
    expect(await post('/api/2.0/mlflow/registered-models/alias', { name: 'ResNet50', alias: 'canary', version: '2' })).toEqual({ status: 200, json: {} });
    expect((await get('/api/2.0/mlflow/registered-models/alias?name=ResNet50&alias=canary')).json.model_version.aliases).toEqual(['canary', 'challenger']);
    expect(await post('/api/2.0/mlflow/registered-models/alias', { name: 'ResNet50', alias: 'canary' }, 'DELETE')).toEqual({ status: 200, json: {} });
    expect((await get('/api/2.0/mlflow/registered-models/alias?name=ResNet50&alias=canary')).status).toBe(400);
    server.state.setAlias('ResNet50', 'champion', 2);
    expect((await get('/api/2.0/mlflow/registered-models/get?name=ResNet50')).json.registered_model.aliases).toEqual([
      { alias: 'challenger', version: '2' },
      { alias: 'champion', version: '2' },
    ]);
  });

  it('validates like MLflow: version must be a JSON string, reserved aliases, Content-Type', async () => {
    expect(await post('/api/2.0/mlflow/registered-models/alias', { name: 'ResNet50', alias: 'x', version: 2 })).toEqual({
      status: 400,
      json: {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: "Invalid value 2 for parameter 'version' supplied. Hint: Value was of type 'int'. See the API docs for more information about request parameters.",
      },
    });
    expect((await post('/api/2.0/mlflow/registered-models/alias', { name: 'ResNet50', alias: 'latest', version: '1' })).json.message).toBe(
      "'latest' alias name (case insensitive) is reserved.",
    );
    expect((await post('/api/2.0/mlflow/registered-models/get-latest-versions', { name: 'ResNet50' }, 'POST', 'text/plain')).json.message).toBe(
      "Bad Request. Content-Type must be one of ['application/json'].",
    );
    expect((await get('/api/2.0/mlflow/registered-models/get?foo=bar')).json.message).toBe("Missing value for required parameter 'name'.");
  });

  it('search: LIKE is case-sensitive, ILIKE is not, tags and page tokens work', async () => {
    expect((await get("/api/2.0/mlflow/registered-models/search?filter=name%20LIKE%20'resnet%25'")).json).toEqual({});
    const ilike = await get("/api/2.0/mlflow/registered-models/search?filter=name%20ILIKE%20'resnet%25'");
    expect(ilike.json.registered_models.map((m: { name: string }) => m.name)).toEqual(['ResNet50']);
    const tagged = await get("/api/2.0/mlflow/registered-models/search?filter=tags.task%20%3D%20'classification'");
    expect(tagged.json.registered_models.map((m: { name: string }) => m.name)).toEqual(['ResNet50']);
    const page1 = await get('/api/2.0/mlflow/model-versions/search?max_results=2');
    expect(page1.json.next_page_token).toBe(Buffer.from('{"offset": 2}').toString('base64'));
    const page2 = await get(`/api/2.0/mlflow/model-versions/search?max_results=2&page_token=${encodeURIComponent(page1.json.next_page_token)}`);
    expect(page2.json.model_versions.map((v: { name: string; version: string }) => `${v.name}/${v.version}`)).toEqual(['ResNet50/1']);
    expect(page2.json).not.toHaveProperty('next_page_token');
  });
});
