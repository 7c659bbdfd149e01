// admin.js: users, all keys, rate limits, budgets, usage, audit (admins
// only; the API answers everyone else 403, so this page shows that
// message).
import {h, field, errorBox, relTime} from "./dom.js";
import {api, get, qs} from "./api.js";
import {tabs, keyTable, usageView} from "./account.js";
import {auditView} from "./audit.js";

export async function adminPage(app, frame, tab) {
  const body = h("div", {class: "panel"});
  frame.append(h("main", {class: "wide-page"}, h("h1", {}, "Admin"),
    tabs("/admin", tab, [["users", "Users"], ["keys", "Keys"], ["rate-limits", "Rate limits"], ["budgets", "Budgets"], ["usage", "Usage"], ["audit", "Audit"]]), body));
  if (app.me.role !== "admin") {
    // The API decides (and records the denial): its message is shown.
    try { await get("/api/admin/audit?limit=1"); } catch (e) { body.append(errorBox(e)); return; }
  }
  const pages = {users, keys, "rate-limits": rateLimits, budgets, usage: b => usageView(b, "/api/admin/usage", ["day", "user", "model"]),
    audit: b => auditView(b, "/api/admin/audit", {filters: true})};
  await (pages[tab] || users)(body);
}

// paged loads a list route page by page ("Load more").
function paged(route, renderRows) {
  const rows = h("tbody", {});
  const more = h("button", {type: "button", class: "btn", hidden: true}, "Load more");
  const err = h("div", {});
  let cursor = null;
  const load = async (reset) => {
    if (reset) { rows.replaceChildren(); cursor = null; }
    try {
      const r = await get(route + (route.includes("?") ? "&" : "?") + qs({limit: 50, cursor}).slice(1));
      rows.append(...r.data.map(renderRows));
      cursor = r.next_cursor;
      more.hidden = !cursor;
    } catch (e) { err.replaceChildren(errorBox(e)); }
  };
  more.addEventListener("click", () => load(false));
  return {rows, more, err, load};
}

async function users(body) {
  const msg = h("div", {"aria-live": "polite"});
  const roleSel = (u) => {
    const sel = h("select", {"aria-label": "Role of " + u.email, class: "role-select", "data-email": u.email},
      ["viewer", "contributor", "admin"].map(r => h("option", {value: r, selected: r === u.role}, r)));
    sel.addEventListener("change", async () => {
      msg.replaceChildren();
      try { await api("PATCH", "/api/admin/users/" + u.id, {role: sel.value}); msg.append(h("p", {class: "ok"}, u.email + " is now " + sel.value + ".")); }
      catch (e) { sel.value = u.role; msg.append(errorBox(e)); }
    });
    return sel;
  };
  const p = paged("/api/admin/users", u => h("tr", {"data-id": u.id},
    h("td", {}, u.email), h("td", {}, u.display_name || ""), h("td", {}, roleSel(u)),
    h("td", {}, h("label", {class: "switch"}, (() => {
      const cb = h("input", {type: "checkbox", checked: u.active, "aria-label": "Active"});
      cb.addEventListener("change", async () => {
        try { await api("PATCH", "/api/admin/users/" + u.id, {active: cb.checked}); } catch (e) { cb.checked = !cb.checked; msg.replaceChildren(errorBox(e)); }
      });
      return cb;
    })(), "active")),
    h("td", {}, relTime(u.last_login_at)),
    h("td", {}, h("button", {type: "button", class: "btn small", onclick: async () => {
      try { await api("POST", "/api/admin/users/" + u.id + "/sessions/revoke"); msg.replaceChildren(h("p", {class: "ok"}, "Signed out " + u.email + " everywhere.")); }
      catch (e) { msg.replaceChildren(errorBox(e)); }
    }}, "Revoke sessions"))));
  const email = h("input", {type: "email", required: true});
  const name = h("input", {type: "text"});
  const pw = h("input", {type: "password", required: true, autocomplete: "new-password"});
  const role = h("select", {}, ["viewer", "contributor", "admin"].map(r => h("option", {value: r, selected: r === "contributor"}, r)));
  body.append(h("details", {class: "create"}, h("summary", {class: "btn primary"}, "Create user"),
    h("form", {class: "row wrap", onsubmit: async e => {
      e.preventDefault();
      try {
        await api("POST", "/api/admin/users", {email: email.value, display_name: name.value, password: pw.value, role: role.value});
        email.value = name.value = pw.value = "";
        p.load(true);
      } catch (err) { msg.replaceChildren(errorBox(err)); }
    }}, field("Email", email), field("Name", name), field("Password", pw), field("Role", role), h("button", {type: "submit", class: "btn primary"}, "Create"))),
  msg, p.err, h("div", {class: "table-wrap"}, h("table", {class: "table", id: "users"},
    h("thead", {}, h("tr", {}, ["Email", "Name", "Role", "Active", "Last login", ""].map(t => h("th", {}, t)))), p.rows)), p.more);
  await p.load(true);
}

async function keys(body) {
  const msg = h("div", {});
  const owner = h("input", {type: "text", placeholder: "user id"});
  const list = h("div", {});
  const load = async () => {
    try {
      const r = await get("/api/admin/keys" + qs({owner_id: owner.value, limit: 200}));
      list.replaceChildren(keyTable(r.data, {owner: true, onRevoke: async k => {
        try { await api("DELETE", "/api/admin/keys/" + k.id); load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
      }}));
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  body.append(h("form", {class: "row", onsubmit: e => { e.preventDefault(); load(); }}, field("Owner filter", owner), h("button", {type: "submit", class: "btn"}, "Filter")), msg, list);
  await load();
}

async function rateLimits(body) {
  const msg = h("div", {});
  const pol = h("tbody", {}), asg = h("tbody", {});
  let policies = [];
  const load = async () => {
    try {
      policies = (await get("/api/admin/rate-limits/policies?limit=200")).data;
      pol.replaceChildren(...policies.map(p => h("tr", {}, h("td", {}, p.name),
        h("td", {}, `${p.requests_per_minute} requests per minute, burst ${p.burst}` + (p.tokens_per_minute ? `, ${p.tokens_per_minute} tokens per minute` : "")),
        h("td", {}, h("button", {type: "button", class: "btn small danger", onclick: () => del("/api/admin/rate-limits/policies/" + p.id)}, "Delete")))));
      const a = (await get("/api/admin/rate-limits/assignments?limit=200")).data;
      asg.replaceChildren(...a.map(x => h("tr", {}, h("td", {}, x.subject_type), h("td", {}, h("code", {}, x.subject)),
        h("td", {}, (policies.find(p => p.id === x.policy_id) || {}).name || x.policy_id),
        h("td", {}, h("button", {type: "button", class: "btn small danger", onclick: () => del("/api/admin/rate-limits/assignments/" + x.id)}, "Delete")))));
      polSel.replaceChildren(...policies.map(p => h("option", {value: p.id}, p.name)));
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  const del = async path => { try { await api("DELETE", path); load(); } catch (e) { msg.replaceChildren(errorBox(e)); } };
  const n = h("input", {type: "text", required: true}), rpm = h("input", {type: "number", min: 1, required: true}), burst = h("input", {type: "number", min: 1, required: true});
  const polSel = h("select", {}), st = h("select", {}, ["user", "key", "role", "route"].map(x => h("option", {value: x}, x))), subj = h("input", {type: "text", required: true});
  body.append(msg, h("h2", {}, "Policies"),
    h("form", {class: "row wrap", onsubmit: async e => {
      e.preventDefault();
      try { await api("POST", "/api/admin/rate-limits/policies", {name: n.value, requests_per_minute: Number(rpm.value), burst: Number(burst.value)}); load(); }
      catch (err) { msg.replaceChildren(errorBox(err)); }
    }}, field("Name", n), field("Requests per minute", rpm), field("Burst", burst), h("button", {type: "submit", class: "btn primary"}, "Add policy")),
    h("table", {class: "table"}, h("thead", {}, h("tr", {}, ["Name", "Limit", ""].map(t => h("th", {}, t)))), pol),
    h("h2", {}, "Assignments"),
    h("form", {class: "row wrap", onsubmit: async e => {
      e.preventDefault();
      try { await api("POST", "/api/admin/rate-limits/assignments", {policy_id: polSel.value, subject_type: st.value, subject: subj.value}); load(); }
      catch (err) { msg.replaceChildren(errorBox(err)); }
    }}, field("Policy", polSel), field("Subject type", st), field("Subject", subj, "A user or key id, a role name, or a route such as POST /v1/chat/completions."), h("button", {type: "submit", class: "btn primary"}, "Assign")),
    h("table", {class: "table"}, h("thead", {}, h("tr", {}, ["Type", "Subject", "Policy", ""].map(t => h("th", {}, t)))), asg));
  await load();
}

async function budgets(body) {
  const msg = h("div", {});
  const rows = h("tbody", {});
  const load = async () => {
    try {
      const r = await get("/api/admin/budgets?limit=200");
      rows.replaceChildren(...r.data.map(b => h("tr", {}, h("td", {}, b.subject_type), h("td", {}, h("code", {}, b.subject)), h("td", {}, b.period),
        h("td", {}, b.max_tokens ?? "—"), h("td", {}, b.max_cost ?? "—"), h("td", {}, b.alert_percent ? b.alert_percent + "%" : "—"),
        h("td", {}, h("button", {type: "button", class: "btn small danger", onclick: async () => {
          try { await api("DELETE", "/api/admin/budgets/" + b.id); load(); } catch (e) { msg.replaceChildren(errorBox(e)); }
        }}, "Delete")))));
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  const st = h("select", {}, ["user", "key", "end_user", "role"].map(x => h("option", {value: x}, x)));
  const subj = h("input", {type: "text", required: true});
  const per = h("select", {}, ["day", "week", "month", "total"].map(x => h("option", {value: x}, x)));
  const toks = h("input", {type: "number", min: 1}), cost = h("input", {type: "text", inputmode: "decimal"});
  body.append(msg, h("form", {class: "row wrap", onsubmit: async e => {
    e.preventDefault();
    const req = {subject_type: st.value, subject: subj.value, period: per.value};
    if (toks.value) req.max_tokens = Number(toks.value);
    if (cost.value) req.max_cost = cost.value;
    try { await api("POST", "/api/admin/budgets", req); load(); } catch (err) { msg.replaceChildren(errorBox(err)); }
  }}, field("Subject type", st), field("Subject", subj), field("Period", per), field("Max tokens", toks), field("Max cost", cost), h("button", {type: "submit", class: "btn primary"}, "Add budget")),
  h("div", {class: "table-wrap"}, h("table", {class: "table"}, h("thead", {}, h("tr", {}, ["Type", "Subject", "Period", "Max tokens", "Max cost", "Alert", ""].map(t => h("th", {}, t)))), rows)));
  await load();
}
