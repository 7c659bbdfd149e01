// dom.js: building DOM nodes from data. Text always goes in as text nodes;
// nothing here ever parses HTML, so user and model content cannot become
// markup.

const SVGNS = "http://www.w3.org/2000/svg";

function build(el, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") el[k] = v;
    else if (k === "style" || k === "innerHTML") throw new Error("dom: " + k + " is not allowed");
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, kids);
  return el;
}

// append adds kids (nodes, strings, numbers, arrays; null is skipped).
export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

// h creates an HTML element: h("button", {class: "x", onclick: f}, "Text").
export function h(tag, attrs, ...kids) { return build(document.createElement(tag), attrs, kids); }

// s creates an SVG element.
export function s(tag, attrs, ...kids) { return build(document.createElementNS(SVGNS, tag), attrs, kids); }

export function clear(el) { el.replaceChildren(); return el; }

// icon is a small inline SVG from a path.
const paths = {
  menu: "M3 6h18M3 12h18M3 18h18",
  plus: "M12 5v14M5 12h14",
  copy: "M9 9h10v10H9zM5 15V5h10",
  edit: "M4 20h4L19 9l-4-4L4 16z",
  redo: "M20 12a8 8 0 1 1-3-6.2M20 4v5h-5",
  trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  share: "M15 5l5 5-5 5M20 10H9a5 5 0 0 0-5 5v4",
  users: "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM2 21a7 7 0 0 1 14 0M17 11a3 3 0 1 0 0-6M22 21a6 6 0 0 0-4-5.6",
  stop: "M7 7h10v10H7z",
  send: "M4 12l16-8-6 16-2-6z",
  close: "M6 6l12 12M18 6L6 18",
};
export function icon(name) {
  return s("svg", {class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false"},
    s("path", {d: paths[name] || ""}));
}

// relTime is "3 min ago"; the element's title has the exact time.
export function relTime(iso) {
  if (!iso) return h("span", {}, "—");
  const d = new Date(iso);
  const sec = Math.round((Date.now() - d.getTime()) / 1000);
  let txt;
  const abs = Math.abs(sec);
  if (abs < 45) txt = "just now";
  else if (abs < 3600) txt = Math.round(abs / 60) + " min";
  else if (abs < 86400) txt = Math.round(abs / 3600) + " h";
  else txt = Math.round(abs / 86400) + " d";
  if (abs >= 45) txt = sec >= 0 ? txt + " ago" : "in " + txt;
  return h("time", {datetime: d.toISOString(), title: d.toLocaleString()}, txt);
}

// field is a labelled control.
let fieldSeq = 0;
export function field(label, control, hint) {
  const id = control.id || "f" + (++fieldSeq);
  control.id = id;
  return h("div", {class: "field"}, h("label", {for: id}, label), control, hint ? h("small", {class: "hint"}, hint) : null);
}

// errorBox shows an error's message (the envelope's, never raw JSON).
export function errorBox(err) {
  return h("p", {class: "error", role: "alert"}, err && err.message ? err.message : String(err));
}

// copyButton copies text() to the clipboard.
export function copyButton(text, label = "Copy") {
  const b = h("button", {type: "button", class: "btn small", onclick: async () => {
    try { await navigator.clipboard.writeText(text()); b.textContent = "Copied"; }
    catch { b.textContent = "Select and copy"; }
    setTimeout(() => { b.textContent = label; }, 1500);
  }}, label);
  return b;
}

// dialog opens a modal <dialog> with content; it is removed when closed.
export function dialog(title, ...content) {
  const d = h("dialog", {class: "dialog", "aria-label": title},
    h("div", {class: "dialog-head"}, h("h2", {}, title),
      h("button", {type: "button", class: "btn ghost", "aria-label": "Close", onclick: () => d.close()}, icon("close"))),
    ...content);
  d.addEventListener("close", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}
