// api.js: the console's only way to the server. Every call goes to the
// public /api/v1 API with the session cookie, as any client would; writes
// carry the CSRF token the login (or /auth/me) gave this session.
//
// api(method, path, {body, json, query, headers, raw}) resolves to the parsed
// JSON answer (or, with raw: true, to {status, headers, text}); any answer
// of 400 or more rejects with an ApiError holding the API's code and message.
// A 401 on anything but the login sends the user to the login page and back.

let csrf = sessionStorage.getItem('hotconf.csrf') || '';
let onUnauthenticated = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  csrf = token || '';
  if (csrf) sessionStorage.setItem('hotconf.csrf', csrf);
  else sessionStorage.removeItem('hotconf.csrf');
}

export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

// Encodes each name as one path segment.
export function seg(...names) {
  return names.map((n) => encodeURIComponent(n)).join('/');
}

export function configPath(ns, group, dataId) {
  return `/api/v1/configs/${seg(ns, group, dataId)}`;
}

export async function api(method, path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  let body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  } else if (opts.body !== undefined) {
    body = opts.body;
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-Hotconf-CSRF'] = csrf;
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'unavailable', `cannot reach the server (${e.message})`);
  }
  const text = await res.text();
  if (res.status >= 400) {
    let code = 'error';
    let message = text || res.statusText;
    try {
      const j = JSON.parse(text);
      if (j && j.error) {
        code = j.error.code;
        message = j.error.message;
      }
    } catch (_) {
      /* not JSON: keep the text */
    }
    if (res.status === 401 && !opts.noRedirect) onUnauthenticated();
    throw new ApiError(res.status, code, message);
  }
  if (opts.raw) return { status: res.status, headers: res.headers, text };
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (_) {
    return text;
  }
}
