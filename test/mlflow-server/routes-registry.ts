// Model registry and tracking handlers (mlflow/server/handlers.py of MLflow 2.11, plus 3.x's
// GET logged-models/<model_id>): request schemas as the handlers declare them, answers as
// message_to_json writes them.
import { loggedModelJson, modelVersionJson, registeredModelJson, runJson, type Tag } from './entities.js';
import { getRequestMessage, MlflowError, sendMessage, str, strList, type Ctx, type Env, type MessageSpec, type Route } from './http.js';
import { searchModelVersions, searchRegisteredModels } from './search.js';

const NAME: MessageSpec = { fields: { name: 'string' }, schema: { name: ['string', 'required'] } };
const NAME_VERSION: MessageSpec = {
  fields: { name: 'string', version: 'string' },
  schema: { name: ['string', 'required'], version: ['string', 'required'] },
};
const NAME_ALIAS: MessageSpec = {
  fields: { name: 'string', alias: 'string' },
  schema: { name: ['string', 'required'], alias: ['string', 'required'] },
};
const searchSpec = (max: number): MessageSpec => ({
  fields: { filter: 'string', max_results: 'int', order_by: 'string[]', page_token: 'string' },
  schema: { filter: ['string'], max_results: ['intlike', { max }], order_by: ['array', 'item_string'], page_token: ['string'] },
});

const tagsOf = (v: unknown): Tag[] =>
  Array.isArray(v) ? v.map((t: { key?: unknown; value?: unknown }) => ({ key: String(t.key ?? ''), value: String(t.value ?? '') })) : [];
const optInt = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function getRegisteredModel(ctx: Ctx, { state }: Env): void {
  const rm = state.getRegisteredModel(str(getRequestMessage(ctx, NAME), 'name'));
  sendMessage(ctx, { registered_model: registeredModelJson(rm, state.latestVersions(rm.name)) });
}

function searchRms(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, searchSpec(1000));
  const found = searchRegisteredModels(state, {
    filter: str(msg, 'filter'), maxResults: optInt(msg.max_results), orderBy: strList(msg, 'order_by'), pageToken: str(msg, 'page_token'),
  });
  sendMessage(ctx, {
    registered_models: found.items.length ? found.items.map((rm) => registeredModelJson(rm, state.latestVersions(rm.name))) : undefined,
    next_page_token: found.next,
  });
}

function getLatestVersions(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', stages: 'string[]' },
    schema: { name: ['string', 'required'], stages: ['array', 'item_string'] },
  });
  const mvs = state.getLatestVersions(str(msg, 'name'), strList(msg, 'stages'));
  sendMessage(ctx, { model_versions: mvs.length ? mvs.map((mv) => modelVersionJson(mv)) : undefined });
}

function createRegisteredModel(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', tags: 'tags', description: 'string' },
    schema: { name: ['string', 'required'], tags: ['array'], description: ['string'] },
  });
  const rm = state.createRegisteredModel(str(msg, 'name'), { description: str(msg, 'description') || undefined, tags: tagsOf(msg.tags) });
  sendMessage(ctx, { registered_model: registeredModelJson(rm, []) });
}

function updateRegisteredModel(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, { fields: { name: 'string', description: 'string' }, schema: { name: ['string', 'required'], description: ['string'] } });
  const rm = state.getRegisteredModel(str(msg, 'name'));
  rm.description = str(msg, 'description');
  rm.last_updated_timestamp = state.now();
  sendMessage(ctx, { registered_model: registeredModelJson(rm, state.latestVersions(rm.name)) });
}

function deleteRegisteredModel(ctx: Ctx, { state }: Env): void {
  const rm = state.getRegisteredModel(str(getRequestMessage(ctx, NAME), 'name'));
  state.registeredModels.delete(rm.name);
  state.modelVersions.splice(0, state.modelVersions.length, ...state.modelVersions.filter((mv) => mv.name !== rm.name));
  sendMessage(ctx, {});
}

function setRegisteredModelTag(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', key: 'string', value: 'string' },
    schema: { name: ['string', 'required'], key: ['string', 'required'], value: ['string'] },
  });
  const rm = state.getRegisteredModel(str(msg, 'name'));
  rm.tags = [...rm.tags.filter((t) => t.key !== str(msg, 'key')), { key: str(msg, 'key'), value: str(msg, 'value') }];
  sendMessage(ctx, {});
}

function createModelVersion(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', source: 'string', run_id: 'string', tags: 'tags', run_link: 'string', description: 'string' },
    schema: {
      name: ['string', 'required'], source: ['string', 'required'], run_id: ['string'], tags: ['array'], run_link: ['string'], description: ['string'],
    },
  });
  const mv = state.createModelVersion(str(msg, 'name'), str(msg, 'source'), {
    run_id: str(msg, 'run_id') || undefined, tags: tagsOf(msg.tags), run_link: str(msg, 'run_link'), description: str(msg, 'description'),
  });
  sendMessage(ctx, { model_version: modelVersionJson(mv) });
}

function getModelVersion(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, NAME_VERSION);
  const mv = state.getModelVersion(str(msg, 'name'), str(msg, 'version'));
  sendMessage(ctx, { model_version: modelVersionJson(mv, state.aliasesOf(mv)) });
}

function updateModelVersion(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', version: 'string', description: 'string' },
    schema: { name: ['string', 'required'], version: ['string', 'required'], description: ['string'] },
  });
  const mv = state.getModelVersion(str(msg, 'name'), str(msg, 'version'));
  mv.description = str(msg, 'description');
  mv.last_updated_timestamp = state.now();
  sendMessage(ctx, { model_version: modelVersionJson(mv) });
}

function deleteModelVersion(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, NAME_VERSION);
  const mv = state.getModelVersion(str(msg, 'name'), str(msg, 'version'));
  const rm = state.getRegisteredModel(mv.name);
  for (const [alias, v] of rm.aliases) if (v === mv.version) rm.aliases.delete(alias);
  mv.current_stage = 'Deleted_Internal';
  rm.last_updated_timestamp = mv.last_updated_timestamp = state.now();
  sendMessage(ctx, {});
}

function setModelVersionTag(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', version: 'string', key: 'string', value: 'string' },
    schema: { name: ['string', 'required'], version: ['string', 'required'], key: ['string', 'required'], value: ['string'] },
  });
  const mv = state.getModelVersion(str(msg, 'name'), str(msg, 'version'));
  mv.tags = [...mv.tags.filter((t) => t.key !== str(msg, 'key')), { key: str(msg, 'key'), value: str(msg, 'value') }];
  sendMessage(ctx, {});
}

function getDownloadUri(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, NAME_VERSION);
  sendMessage(ctx, { artifact_uri: state.getDownloadUri(str(msg, 'name'), str(msg, 'version')) });
}

function searchMvs(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, searchSpec(200_000));
  const found = searchModelVersions(state, {
    filter: str(msg, 'filter'), maxResults: optInt(msg.max_results), orderBy: strList(msg, 'order_by'), pageToken: str(msg, 'page_token'),
  });
  sendMessage(ctx, { model_versions: found.items.length ? found.items.map((mv) => modelVersionJson(mv)) : undefined, next_page_token: found.next });
}

function transitionStage(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', version: 'string', stage: 'string', archive_existing_versions: 'bool' },
    schema: { name: ['string', 'required'], version: ['string', 'required'], stage: ['string', 'required'], archive_existing_versions: ['bool'] },
  });
  const mv = state.transitionStage(str(msg, 'name'), str(msg, 'version'), str(msg, 'stage'), msg.archive_existing_versions === true);
  sendMessage(ctx, { model_version: modelVersionJson(mv, state.aliasesOf(mv)) });
}

function getByAlias(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, NAME_ALIAS);
  const mv = state.getModelVersionByAlias(str(msg, 'name'), str(msg, 'alias'));
  sendMessage(ctx, { model_version: modelVersionJson(mv, state.aliasesOf(mv)) });
}

function setAlias(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { name: 'string', alias: 'string', version: 'string' },
    schema: { name: ['string', 'required'], alias: ['string', 'required'], version: ['string', 'required'] },
  });
  state.setAlias(str(msg, 'name'), str(msg, 'alias'), str(msg, 'version'));
  sendMessage(ctx, {});
}

function deleteAlias(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, NAME_ALIAS);
  state.deleteAlias(str(msg, 'name'), str(msg, 'alias'));
  sendMessage(ctx, {});
}

function getRun(ctx: Ctx, { state }: Env): void {
  const msg = getRequestMessage(ctx, { fields: { run_id: 'string', run_uuid: 'string' }, schema: { run_id: ['required', 'string'] } });
  sendMessage(ctx, { run: runJson(state.getRun(str(msg, 'run_id') || str(msg, 'run_uuid'))) });
}

function getLoggedModel(ctx: Ctx, { state }: Env, params: Record<string, string>): void {
  sendMessage(ctx, { model: loggedModelJson(state.getLoggedModel(params.model_id)) });
}

function notImplemented(rpc: string) {
  return () => {
    throw new MlflowError(`${rpc} is not implemented by mlserve's test MLflow server`, 'NOT_IMPLEMENTED');
  };
}

const R = '/mlflow/registered-models';
const V = '/mlflow/model-versions';

export const registryRoutes: Route[] = [
  { path: `${R}/create`, methods: ['POST'], handler: createRegisteredModel },
  { path: `${R}/rename`, methods: ['POST'], handler: notImplemented('renameRegisteredModel') },
  { path: `${R}/update`, methods: ['PATCH'], handler: updateRegisteredModel },
  { path: `${R}/delete`, methods: ['DELETE'], handler: deleteRegisteredModel },
  { path: `${R}/get`, methods: ['GET'], handler: getRegisteredModel },
  { path: `${R}/search`, methods: ['GET'], handler: searchRms },
  { path: `${R}/get-latest-versions`, methods: ['POST'], handler: getLatestVersions },
  { path: `${R}/get-latest-versions`, methods: ['GET'], handler: getLatestVersions },
  { path: `${R}/set-tag`, methods: ['POST'], handler: setRegisteredModelTag },
  { path: `${R}/delete-tag`, methods: ['DELETE'], handler: notImplemented('deleteRegisteredModelTag') },
  { path: `${R}/alias`, methods: ['POST'], handler: setAlias },
  { path: `${R}/alias`, methods: ['DELETE'], handler: deleteAlias },
  { path: `${R}/alias`, methods: ['GET'], handler: getByAlias },
  { path: `${V}/create`, methods: ['POST'], handler: createModelVersion },
  { path: `${V}/update`, methods: ['PATCH'], handler: updateModelVersion },
  { path: `${V}/transition-stage`, methods: ['POST'], handler: transitionStage },
  { path: `${V}/delete`, methods: ['DELETE'], handler: deleteModelVersion },
  { path: `${V}/get`, methods: ['GET'], handler: getModelVersion },
  { path: `${V}/search`, methods: ['GET'], handler: searchMvs },
  { path: `${V}/get-download-uri`, methods: ['GET'], handler: getDownloadUri },
  { path: `${V}/set-tag`, methods: ['POST'], handler: setModelVersionTag },
  { path: `${V}/delete-tag`, methods: ['DELETE'], handler: notImplemented('deleteModelVersionTag') },
  { path: '/mlflow/runs/get', methods: ['GET'], handler: getRun },
  { path: '/mlflow/logged-models/<model_id>', methods: ['GET'], handler: getLoggedModel },
];
