// api.js: the one way the UI calls the server. Same origin, the session
// cookie, X-CSRF-Token on every unsafe call, and errors as APIError with
// the envelope's message.

export class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "Request failed (" + status + ")");
    this.status = status;
    this.code = e.code || "";
    this.param = e.param || null;
  }
}

// csrf is the current CSRF token, from the script-readable cookie.
export function csrf() {
  const c = document.cookie.split("; ").find(c => c.startsWith("tollgate_csrf="));
  return c ? decodeURIComponent(c.slice("tollgate_csrf=".length)) : "";
}

// Codes that mean "the credential is gone": the UI signs in again.
const signInCodes = new Set(["missing_authorization", "invalid_authorization", "session_expired", "token_expired"]);
let onSignedOut = () => {};
export function setSignedOutHandler(f) { onSignedOut = f; }

function headers(method, body) {
  const hd = {"Accept": "application/json"};
  if (body !== undefined) hd["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const t = csrf();
    if (t) hd["X-CSRF-Token"] = t;
  }
  return hd;
}

// request sends one call and returns the response as it is (streams).
export async function request(method, path, body, signal) {
  const r = await fetch(path, {method, headers: headers(method, body), credentials: "same-origin", signal,
    body: body === undefined ? undefined : JSON.stringify(body)});
  if (!r.ok) throw await toError(r);
  return r;
}

async function toError(r) {
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  const err = new APIError(r.status, body);
  if (r.status === 401 && signInCodes.has(err.code)) onSignedOut(err);
  return err;
}

// api sends a call and returns its JSON (null for 204).
export async function api(method, path, body) {
  const r = await request(method, path, body);
  if (r.status === 204) return null;
  return r.json();
}

export const get = path => api("GET", path);

// qs builds a query string from an object, skipping empty values.
export function qs(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

// sse reads server-sent events from a fetch response and calls
// onEvent({id, event, data}) for each; it resolves at the end of the body.
export async function sse(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
      const ev = {id: null, event: "message", data: ""};
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const c = line.indexOf(":");
        const k = c < 0 ? line : line.slice(0, c);
        const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
        if (k === "data") data.push(v);
        else if (k === "event") ev.event = v;
        else if (k === "id") ev.id = v;
      }
      if (!data.length) continue;
      ev.data = data.join("\n");
      onEvent(ev);
    }
  }
}
