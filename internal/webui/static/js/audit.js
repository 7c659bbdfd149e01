// audit.js: the audit log (SPEC 8.1). The admin page lists every record
// with filters; the account page lists the caller's own (GET /api/audit).
// Every value is text: an actor id, a user agent or a detail is never
// markup.
import {h, field, errorBox, relTime} from "./dom.js";
import {get, qs} from "./api.js";

const filterKeys = ["action", "outcome", "actor_id", "target_id", "from", "to"];

// pageSize is the page's ?limit= (1–200), else 50.
function pageSize() {
  const n = Number(new URLSearchParams(location.search).get("limit"));
  return Number.isInteger(n) && n >= 1 && n <= 200 ? n : 50;
}

const ref = r => r ? h("code", {}, r.type + (r.id ? " " + r.id : "")) : "—";

// row is one record; its Details button opens a full-width row below it
// with the user agent, the exact time, the record id and the details.
function row(a) {
  const tr = h("tr", {"data-id": a.id, "data-seq": a.seq, "data-action": a.action, "data-outcome": a.outcome},
    h("td", {"data-label": "At", class: "nowrap"}, relTime(a.at)),
    h("td", {"data-label": "Actor", class: "id"}, ref(a.actor)),
    h("td", {"data-label": "Action", class: "audit-action nowrap"}, a.action),
    h("td", {"data-label": "Target", class: "id"}, ref(a.target)),
    h("td", {"data-label": "Outcome", class: "nowrap"}, h("span", {class: ["badge", a.outcome === "failure" ? "bad" : "good"], "data-outcome": a.outcome}, a.outcome)),
    h("td", {"data-label": "IP", class: "nowrap"}, h("code", {}, a.ip || "—")),
    h("td", {"data-label": "Request id", class: "id"}, h("code", {}, a.request_id || "—")),
    h("td", {class: "nowrap"}, h("button", {type: "button", class: "btn small ghost audit-toggle", "aria-expanded": "false", onclick: e => {
      const b = e.currentTarget;
      const open = b.getAttribute("aria-expanded") === "true";
      b.setAttribute("aria-expanded", String(!open));
      if (open) { tr.nextElementSibling?.remove(); return; }
      const details = a.details && Object.keys(a.details).length ? JSON.stringify(a.details, null, 2) : "";
      tr.after(h("tr", {class: "audit-detail"}, h("td", {colspan: 8},
        h("dl", {class: "facts"}, h("dt", {}, "Time"), h("dd", {}, a.at), h("dt", {}, "User agent"), h("dd", {}, a.user_agent || "—"),
          h("dt", {}, "Record"), h("dd", {}, h("code", {}, a.id + " (seq " + a.seq + ")"))),
        details ? h("pre", {class: "audit-details"}, details) : null)));
    }}, "Details")));
  return tr;
}

// localInput turns an RFC 3339 time into a datetime-local value and back.
const toLocal = iso => {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const fromLocal = v => v ? new Date(v).toISOString() : "";

// auditView renders the log of route into body; with filters, a filter
// form whose values live in the page's query string (a filtered view is
// a link).
export async function auditView(body, route, {filters = false} = {}) {
  const params = new URLSearchParams(location.search);
  const f = {};
  for (const k of filterKeys) f[k] = filters ? params.get(k) || "" : "";
  const rows = h("tbody", {});
  const more = h("button", {type: "button", class: "btn", id: "audit-more", hidden: true}, "Load more");
  const err = h("div", {"aria-live": "polite"});
  const empty = h("p", {class: "muted", hidden: true}, filters ? "No records match these filters." : "No activity recorded yet.");
  let cursor = null;
  const load = async reset => {
    if (reset) { rows.replaceChildren(); cursor = null; }
    err.replaceChildren();
    more.disabled = true;
    try {
      const r = await get(route + qs({...f, limit: pageSize(), cursor}));
      rows.append(...r.data.map(row));
      cursor = r.next_cursor || null;
      more.hidden = !cursor;
      empty.hidden = rows.children.length > 0;
    } catch (e) { err.replaceChildren(errorBox(e)); more.hidden = true; }
    more.disabled = false;
  };
  more.addEventListener("click", () => load(false));
  let form = null;
  if (filters) {
    const action = h("input", {type: "text", name: "action", value: f.action, placeholder: "e.g. key.created", list: "audit-actions"});
    const outcome = h("select", {name: "outcome"}, [["", "any"], ["success", "success"], ["failure", "failure"]].map(([v, l]) => h("option", {value: v, selected: v === f.outcome}, l)));
    const actor = h("input", {type: "text", name: "actor_id", value: f.actor_id, placeholder: "user or key id"});
    const target = h("input", {type: "text", name: "target_id", value: f.target_id, placeholder: "id"});
    const from = h("input", {type: "datetime-local", name: "from", value: toLocal(f.from)});
    const to = h("input", {type: "datetime-local", name: "to", value: toLocal(f.to)});
    const actions = h("datalist", {id: "audit-actions"}, ["auth.login", "auth.login_failed", "auth.logout", "auth.session_revoked",
      "auth.password_changed", "key.created", "key.revoked", "key.rotated", "user.created", "user.role_changed",
      "user.deactivated", "user.activated", "rate_limit.policy_changed", "budget.changed", "access.denied",
      "conversation.shared", "participant.added"].map(a => h("option", {value: a})));
    form = h("form", {class: "row wrap audit-filters", id: "audit-filters", onsubmit: e => {
      e.preventDefault();
      Object.assign(f, {action: action.value.trim(), outcome: outcome.value, actor_id: actor.value.trim(), target_id: target.value.trim(),
        from: fromLocal(from.value), to: fromLocal(to.value)});
      const q = new URLSearchParams(qs({...f, limit: params.get("limit")}).slice(1));
      history.replaceState(history.state, "", location.pathname + (q.toString() ? "?" + q : ""));
      load(true);
    }}, field("Action", action), actions, field("Outcome", outcome), field("Actor id", actor), field("Target id", target),
    field("From", from), field("To", to), h("button", {type: "submit", class: "btn primary"}, "Filter"));
  }
  body.append(form, err, h("div", {class: "table-wrap audit-wrap"}, h("table", {class: "table audit", id: "audit"},
    h("thead", {}, h("tr", {}, ["At", "Actor", "Action", "Target", "Outcome", "IP", "Request id", ""].map(t => h("th", {}, t)))), rows)),
  empty, more);
  await load(true);
}
