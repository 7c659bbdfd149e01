// account.js: profile and password, sessions, API keys, usage & limits.
import {h, clear, field, errorBox, relTime, copyButton, dialog} from "./dom.js";
import {api, get, qs} from "./api.js";
import {barChart, gauge, fmt} from "./chart.js";
import {auditView} from "./audit.js";

export function tabs(base, active, list) {
  return h("nav", {class: "tabs", "aria-label": "Sections"}, list.map(([k, label]) =>
    h("a", {href: base + "/" + k, "data-nav": "", class: k === active ? "active" : null, "aria-current": k === active ? "page" : null}, label)));
}

export async function accountPage(app, frame, tab) {
  const body = h("div", {class: "panel"});
  frame.append(h("main", {class: "wide-page"}, h("h1", {}, "Account"),
    tabs("/account", tab, [["profile", "Profile"], ["sessions", "Sessions"], ["keys", "API keys"], ["usage", "Usage & limits"], ["activity", "Activity"]]), body));
  const pages = {profile, sessions, keys: keysTab, usage: usageTab, activity: (app, b) => auditView(b, "/api/audit")};
  await (pages[tab] || profile)(app, body);
}

function profile(app, body) {
  const me = app.me;
  body.append(h("dl", {class: "facts"},
    h("dt", {}, "Name"), h("dd", {}, me.display_name || "—"),
    h("dt", {}, "Email"), h("dd", {}, me.email || "—"),
    h("dt", {}, "Role"), h("dd", {}, h("span", {class: "badge role"}, me.role))));
  if (app.status.mode === "open") { body.append(h("p", {class: "muted"}, "Open mode: there is no password to change.")); return; }
  const cur = h("input", {type: "password", autocomplete: "current-password", required: true});
  const nw = h("input", {type: "password", autocomplete: "new-password", required: true});
  const msg = h("div", {"aria-live": "polite"});
  body.append(h("h2", {}, "Change password"), h("form", {class: "stack narrow", onsubmit: async e => {
    e.preventDefault();
    msg.replaceChildren();
    try {
      await api("PUT", "/api/auth/password", {current_password: cur.value, new_password: nw.value});
      cur.value = nw.value = "";
      msg.append(h("p", {class: "ok"}, "Password changed. Your other sessions were signed out."));
    } catch (err) { msg.append(errorBox(err)); }
  }}, field("Current password", cur), field("New password", nw, "At least 8 characters."), msg,
  h("button", {type: "submit", class: "btn primary"}, "Change password")));
}

async function sessions(app, body) {
  const msg = h("div", {});
  const table = h("div", {});
  const load = async () => {
    try {
      const r = await get("/api/auth/sessions");
      table.replaceChildren(h("table", {class: "table"}, h("thead", {}, h("tr", {}, ["Device", "IP", "Signed in", "Last seen", ""].map(t => h("th", {}, t)))),
        h("tbody", {}, r.data.map(s => h("tr", {},
          h("td", {}, s.user_agent || "unknown", s.current ? h("span", {class: "badge"}, "this device") : null),
          h("td", {}, h("code", {}, s.ip || "")), h("td", {}, relTime(s.created_at)), h("td", {}, relTime(s.last_seen_at)),
          h("td", {}, s.current ? null : h("button", {type: "button", class: "btn small", onclick: async () => {
            try { await api("DELETE", "/api/auth/sessions/" + encodeURIComponent(s.id)); load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
          }}, "Revoke")))))));
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  body.append(msg, table, h("button", {type: "button", class: "btn", onclick: async () => {
    try { await api("DELETE", "/api/auth/sessions"); load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
  }}, "Revoke all other sessions"));
  await load();
}

const roles = ["viewer", "contributor", "admin"];

// keyTable lists keys with rotate and revoke; del is the revoke path.
export function keyTable(keys, {onRevoke, onRotate, owner}) {
  if (!keys.length) return h("p", {class: "empty"}, "No API keys yet — create one.");
  return h("div", {class: "table-wrap"}, h("table", {class: "table", id: "keys"},
    h("thead", {}, h("tr", {}, ["Name", "Key", owner ? "Owner" : null, "Role", "Created", "Last used", "Expires", "Status", ""].filter(Boolean).map(t => h("th", {}, t)))),
    h("tbody", {}, keys.map(k => h("tr", {"data-id": k.id},
      h("td", {}, k.name), h("td", {}, h("code", {}, "tg_" + k.prefix + "…")), owner ? h("td", {}, h("code", {}, k.owner_id)) : null,
      h("td", {}, k.role), h("td", {}, relTime(k.created_at)), h("td", {}, k.last_used_at ? relTime(k.last_used_at) : "never"),
      h("td", {}, k.expires_at ? relTime(k.expires_at) : "never"),
      h("td", {}, k.revoked_at ? h("span", {class: "badge bad"}, "revoked") : h("span", {class: "badge good"}, "active")),
      h("td", {class: "row"}, k.revoked_at ? null : [
        onRotate ? h("button", {type: "button", class: "btn small rotate", onclick: () => onRotate(k)}, "Rotate") : null,
        h("button", {type: "button", class: "btn small danger revoke", onclick: () => onRevoke(k)}, "Revoke")]))))));
}

// secretBox shows a new key's secret once.
function secretBox(secret) {
  return h("div", {class: "secret", role: "status"},
    h("p", {}, h("strong", {}, "Copy this key now. It will not be shown again.")),
    h("div", {class: "row"}, h("input", {type: "text", readonly: true, value: secret, id: "new-key-secret", class: "mono", "aria-label": "New API key"}), copyButton(() => secret)));
}

async function keysTab(app, body) {
  const msg = h("div", {"aria-live": "polite"});
  const list = h("div", {});
  const load = async () => {
    try {
      const r = await get("/api/keys" + qs({limit: 200}));
      list.replaceChildren(keyTable(r.data, {
        onRevoke: async k => { try { await api("DELETE", "/api/keys/" + k.id); load(); } catch (e) { msg.replaceChildren(errorBox(e)); } },
        onRotate: k => rotateDialog(k, msg, load),
      }));
    } catch (e) { list.replaceChildren(errorBox(e)); }
  };
  const canCreate = app.me.role !== "viewer" && app.status.mode !== "open" || app.status.mode === "open";
  body.append(canCreate ? h("button", {type: "button", class: "btn primary", id: "create-key", onclick: () => createKeyDialog(app, msg, load)}, "Create API key") : null, msg, list);
  await load();
}

function rotateDialog(k, msg, load) {
  const grace = h("input", {type: "number", min: 0, value: 3600});
  const d = dialog("Rotate " + k.name, h("form", {class: "stack", onsubmit: async e => {
    e.preventDefault();
    try {
      const r = await api("POST", "/api/keys/" + k.id + "/rotate", {grace_seconds: Number(grace.value) || 0});
      d.close();
      msg.replaceChildren(secretBox(r.key));
      load();
    } catch (err) { d.append(errorBox(err)); }
  }}, field("Grace period (seconds)", grace, "The old secret keeps working this long."), h("button", {type: "submit", class: "btn primary"}, "Rotate")));
}

async function createKeyDialog(app, msg, load) {
  const models = await get("/v1/models").then(r => r.data.map(m => m.id)).catch(() => []);
  const name = h("input", {type: "text", required: true, id: "key-name"});
  const role = h("select", {id: "key-role"}, roles.filter(r => roles.indexOf(r) <= roles.indexOf(app.me.role)).map(r => h("option", {value: r, selected: r === app.me.role}, r)));
  const exp = h("select", {id: "key-expiry"}, [["", "never"], ["2592000", "30 days"], ["7776000", "90 days"]].map(([v, t]) => h("option", {value: v}, t)));
  const allowed = h("select", {multiple: true, id: "key-models", size: Math.min(5, Math.max(2, models.length))}, models.map(m => h("option", {value: m}, m)));
  const btoks = h("input", {type: "number", min: 1, id: "key-budget-tokens"});
  const bper = h("select", {id: "key-budget-period"}, ["day", "week", "month", "total"].map(p => h("option", {value: p}, p)));
  const err = h("div", {});
  const d = dialog("Create API key", h("form", {class: "stack", onsubmit: async e => {
    e.preventDefault();
    err.replaceChildren();
    try {
      const req = {name: name.value, role: role.value};
      if (exp.value) req.expires_in_seconds = Number(exp.value);
      const am = [...allowed.selectedOptions].map(o => o.value);
      if (am.length) req.allowed_models = am;
      const k = await api("POST", "/api/keys", req);
      if (btoks.value) await api("PUT", "/api/keys/" + k.id + "/budget", {period: bper.value, max_tokens: Number(btoks.value)});
      d.close();
      msg.replaceChildren(secretBox(k.key));
      load();
    } catch (ex) { err.replaceChildren(errorBox(ex)); }
  }}, field("Name", name), field("Role", role, "At most your own role."), field("Expires", exp),
  field("Allowed models", allowed, "None selected: every model you may use."),
  h("fieldset", {}, h("legend", {}, "Budget (optional)"), field("Tokens", btoks), field("Per", bper)),
  err, h("button", {type: "submit", class: "btn primary", id: "key-submit"}, "Create")));
  name.focus();
}

// usageView draws usage charts from a usage route (own or admin).
export async function usageView(body, route, groups) {
  const days = h("select", {id: "period", "aria-label": "Period"}, [7, 30, 90].map(d => h("option", {value: d}, "Last " + d + " days")));
  const out = h("div", {class: "charts"});
  const draw = async () => {
    const from = new Date(Date.now() - Number(days.value) * 86400e3).toISOString();
    out.replaceChildren();
    try {
      for (const g of groups) {
        const r = await get(route + qs({group_by: g, from}));
        const rows = r.data.map(u => ({label: u.name || u.group, req: u.requests, tok: u.prompt_tokens + u.completion_tokens, u}));
        out.append(barChart("Requests by " + g, rows.map(x => ({label: x.label, parts: {requests: x.req}}))),
          barChart("Tokens by " + g, rows.map(x => ({label: x.label, parts: {prompt: x.u.prompt_tokens, completion: x.u.completion_tokens}}))),
          h("div", {class: "table-wrap"}, h("table", {class: "table"}, h("thead", {}, h("tr", {}, [g, "Requests", "Prompt tokens", "Completion tokens", "Cost"].map(t => h("th", {}, t)))),
            h("tbody", {}, rows.map(x => h("tr", {}, h("td", {}, x.label), h("td", {}, String(x.u.requests)), h("td", {}, String(x.u.prompt_tokens)),
              h("td", {}, String(x.u.completion_tokens)), h("td", {}, x.u.cost ?? "")))))));
      }
    } catch (e) { out.append(errorBox(e)); }
  };
  days.addEventListener("change", draw);
  body.append(h("div", {class: "row"}, field("Period", days)), out);
  await draw();
}

async function usageTab(app, body) {
  const lim = h("div", {class: "limits"});
  body.append(h("h2", {}, "Limits"), lim, h("h2", {}, "Usage"));
  try {
    const l = await get("/api/limits");
    if (l.rate_limit) lim.append(h("p", {}, "Rate limit: ", h("strong", {}, policyWords(l.rate_limit.policy)), ` (${l.rate_limit.remaining} of ${l.rate_limit.limit} left now, full again in ${l.rate_limit.reset} s)`));
    for (const b of l.budgets || []) {
      const total = b.max_tokens ?? 0;
      lim.append(gauge(`${b.subject_type} budget per ${b.period}: ${fmt(b.spent.tokens)} of ${b.max_tokens ?? "∞"} tokens`, b.spent.tokens, b.reserved.tokens, total || 1),
        h("p", {class: "muted"}, "Resets ", relTime(b.resets_at)));
    }
    if (!(l.budgets || []).length) lim.append(h("p", {class: "muted"}, "No budget applies to you."));
    const am = [...(l.allowed_models.user || []), ...(l.allowed_models.key || [])];
    lim.append(h("p", {}, "Models: ", am.length ? am.join(", ") : "all"));
  } catch (e) { lim.append(errorBox(e)); }
  await usageView(body, "/api/usage", ["day", "model"]);
}

// policyWords turns a RateLimit-Policy value ("default";q=100;w=10) into
// words: "default: 100 requests per 10 s".
export function policyWords(p) {
  const name = (p.match(/^"([^"]*)"/) || [])[1] || "policy";
  const q = (p.match(/;q=(\d+)/) || [])[1], w = (p.match(/;w=(\d+)/) || [])[1];
  return q && w ? `${name}: ${q} requests per ${w} s` : p;
}
