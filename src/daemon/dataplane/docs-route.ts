// GET /openapi.json (the OpenAPI 3.1 document of what is deployed now) and GET /docs (Swagger UI,
// served from the npm package swagger-ui-dist: no CDN, no inline script). With a token on the
// ingress, open /docs#token=<token>: the page sends it with every call (a fragment never reaches
// the server or its logs).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { notFound } from '../../errors.js';
import { openApiDocument, type DocEndpoint } from '../../openapi/document.js';
import { VERSION } from '../../version.js';
import type { Reply } from './ingress-env.js';
import type { RouteTable } from './routes.js';

/** The Swagger UI files the page loads, and their types. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mlserve API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// The page's own script (a file, so the Content-Security-Policy needs no 'unsafe-inline' for scripts).
const INIT = `(function () {
  var token = (new URLSearchParams(location.hash.slice(1))).get('token');
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    requestInterceptor: function (req) {
      if (token) req.headers['Authorization'] = 'Bearer ' + token;
      return req;
    },
  });
})();
`;

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

let assetDir: string | undefined;
const cache = new Map<string, Buffer>();

function asset(name: string): Buffer {
  let b = cache.get(name);
  if (!b) {
    assetDir ??= dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    b = readFileSync(join(assetDir, name));
    cache.set(name, b);
  }
  return b;
}

const file = (body: Buffer | string, type: string, extra: Record<string, string> = {}): Reply => ({
  status: 200, body: null, headers: { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...extra }, chunks: [Buffer.from(body)],
});

/** The endpoints as the document describes them: each endpoint's primary revision. */
export function docEndpoints(routes: RouteTable): DocEndpoint[] {
  const out: DocEndpoint[] = [];
  for (const r of routes.list()) {
    const t = r.primary ?? r.canary;
    if (!t) continue;
    out.push({ endpoint: r.endpoint, version: t.version, platform: t.platform, spec: t.spec, pipeline: t.pipeline?.spec ?? null });
  }
  return out;
}

/** GET /openapi.json. */
export function openApiReply(routes: RouteTable, bearer: boolean): Reply {
  return { status: 200, body: openApiDocument(docEndpoints(routes), { version: VERSION, bearer }) };
}

/** GET /docs and its files; undefined for other paths. */
export function docsReply(parts: string[]): Reply | undefined {
  if (parts[0] !== 'docs') return undefined;
  if (parts.length === 1) return file(PAGE, 'text/html; charset=utf-8', { 'content-security-policy': CSP });
  if (parts.length !== 2) throw notFound(`no page /${parts.join('/')}; the API docs are at /docs`);
  const name = parts[1]!;
  if (name === 'init.js') return file(INIT, 'text/javascript; charset=utf-8');
  const type = ASSETS[name];
  if (!type) throw notFound(`no file /docs/${name}; the API docs are at /docs`);
  return file(asset(name), type);
}
