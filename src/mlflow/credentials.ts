// Secrets in MLflow settings: credentials may come as variables (MLFLOW_TRACKING_USERNAME,
// _PASSWORD, _TOKEN) or inside a tracking URI (http://user:pass@host, which MLflow's client sends
// as Basic auth). mlserve never stores or shows them: URIs are kept without their userinfo, shown
// redacted, and the secrets travel separately. PURE.

/** Variables that carry secrets. */
export const SECRET_VARS = ['MLFLOW_TRACKING_USERNAME', 'MLFLOW_TRACKING_PASSWORD', 'MLFLOW_TRACKING_TOKEN'] as const;
const URI_VARS = ['MLFLOW_TRACKING_URI', 'MLFLOW_REGISTRY_URI'] as const;

/** An http(s) URI without its userinfo, and the userinfo it had (decoded). Other URIs are returned as they are. */
export function stripUserinfo(uri: string): { uri: string; username?: string; password?: string } {
  const m = /^(https?:\/\/)([^@/?#]*)@(.*)$/i.exec(uri.trim());
  if (!m) return { uri };
  const [user, ...rest] = m[2].split(':');
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { uri: `${m[1]}${m[3]}`, username: user ? dec(user) : undefined, password: rest.length ? dec(rest.join(':')) : undefined };
}

/** A URI as it may be shown: its userinfo replaced by ***. */
export function redactUri(uri: string): string {
  return uri.replace(/^(https?:\/\/)[^@/?#]*@/i, '$1***@');
}

/** Replace every URI with userinfo in a text (an error message, a log line) by its redacted form. */
export function redactText(text: string): string {
  return text.replace(/(https?:\/\/)[^@/\s?#'"]*@/gi, '$1***@');
}

/**
 * Split the MLflow variables a deploy carried: `public` has the URIs without userinfo and no
 * secret variable (safe to store and show); `secret` has the credentials, the userinfo of a URI
 * becoming MLFLOW_TRACKING_USERNAME/_PASSWORD unless those are set (as MLflow's client sends it).
 */
export function splitSecrets(env: Record<string, string>): { public: Record<string, string>; secret: Record<string, string> } {
  const pub: Record<string, string> = {};
  const secret: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if ((SECRET_VARS as readonly string[]).includes(k)) secret[k] = v;
    else pub[k] = v;
  }
  for (const k of URI_VARS) {
    if (!pub[k]) continue;
    const s = stripUserinfo(pub[k]);
    pub[k] = s.uri;
    if (s.username !== undefined && !secret.MLFLOW_TRACKING_USERNAME) {
      secret.MLFLOW_TRACKING_USERNAME = s.username;
      if (s.password !== undefined) secret.MLFLOW_TRACKING_PASSWORD = s.password;
    }
  }
  return { public: pub, secret };
}
