// app.js: start-up, client-side routing, the page frame and the sign-in
// pages (setup, sign in, register). Open mode (SPEC 2.7) has no sign-in
// page: /api/auth/status says so and the app goes straight to chat.
import {h, clear, field, errorBox, icon} from "./dom.js";
import {api, get, setSignedOutHandler} from "./api.js";
import {chatPage, sharePage} from "./chat.js";
import {accountPage} from "./account.js";
import {adminPage} from "./admin.js";

const root = document.getElementById("app");
const app = {status: null, me: null, navigate, refreshMe, signOut, cleanup: null};

// navigate changes the URL and renders its page.
function navigate(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else if (path !== location.pathname + location.search) history.pushState(null, "", path);
  render();
}
window.addEventListener("popstate", render);

// Links with data-nav route inside the app.
document.addEventListener("click", e => {
  const a = e.target.closest && e.target.closest("a[data-nav]");
  if (a && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.button === 0) {
    e.preventDefault();
    navigate(a.getAttribute("href"));
  }
});

// A refused session sends the user to sign in, then back to this page.
setSignedOutHandler(() => {
  if (app.status && app.status.mode === "open") return;
  app.me = null;
  const here = location.pathname + location.search;
  if (!here.startsWith("/login")) navigate("/login?next=" + encodeURIComponent(here), true);
});

async function refreshMe() {
  app.me = await get("/api/auth/me");
  return app.me;
}

async function signOut() {
  try { await api("POST", "/api/auth/logout"); } catch { /* signed out anyway */ }
  app.me = null;
  navigate("/login", true);
}

async function render() {
  if (app.cleanup) { app.cleanup(); app.cleanup = null; }
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  try {
    if (path.startsWith("/share/")) return sharePage(app, mount(), decodeURIComponent(path.slice(7)));
    app.status = await get("/api/auth/status");
    const open = app.status.mode === "open";
    if (path === "/setup") return setupPage(mount());
    if (app.status.setup_required && !open) return navigate("/setup", true);
    if (!open && (path === "/login" || path === "/register")) {
      return path === "/login" ? loginPage(mount(), params) : registerPage(mount());
    }
    if (!app.me) {
      try { await refreshMe(); } catch (e) {
        if (e.status === 401) return; // the signed-out handler navigates
        throw e;
      }
    }
    if (open && (path === "/login" || path === "/register")) return navigate("/", true);
    const frame = pageFrame();
    if (path.startsWith("/account")) return accountPage(app, frame, path.split("/")[2] || "profile");
    if (path.startsWith("/admin")) return adminPage(app, frame, path.split("/")[2] || "users");
    if (path.startsWith("/invite/")) return invitePage(frame, decodeURIComponent(path.slice(8)));
    const m = path.match(/^\/c\/([^/]+)$/);
    return chatPage(app, frame, m ? decodeURIComponent(m[1]) : null);
  } catch (e) {
    mount().append(h("main", {class: "card-page"}, h("div", {class: "card"}, h("h1", {}, "Tollgate"), errorBox(e),
      h("button", {class: "btn", onclick: () => render()}, "Try again"))));
  }
}

function mount() { clear(root); root.className = "app"; return root; }

// pageFrame is the signed-in layout: a top bar with the user, the main
// links and sign out. Pages fill the returned element.
function pageFrame() {
  const r = mount();
  const me = app.me;
  const isAdmin = me.role === "admin";
  const menu = h("details", {class: "menu"},
    h("summary", {class: "who", "aria-label": "Account menu"},
      h("span", {class: "avatar", "aria-hidden": "true"}, (me.display_name || me.email || "?").slice(0, 1).toUpperCase()),
      h("span", {class: "who-name"}, me.display_name || me.email || me.id),
      h("span", {class: "badge role", "data-role": me.role}, me.role)),
    h("nav", {class: "menu-items", "aria-label": "Account"},
      h("a", {href: "/account", "data-nav": ""}, "Account"),
      isAdmin ? h("a", {href: "/admin", "data-nav": "", id: "admin-link"}, "Admin") : null,
      app.status.mode === "open" ? h("span", {class: "muted"}, "Open mode: no sign-in") :
        h("button", {type: "button", class: "linkish", id: "sign-out", onclick: signOut}, "Sign out")));
  menu.addEventListener("click", e => { if (e.target.closest("a,button")) menu.open = false; });
  const top = h("header", {class: "topbar"},
    h("button", {type: "button", class: "btn ghost only-narrow", id: "drawer-toggle", "aria-label": "Conversations",
      onclick: () => document.body.classList.toggle("drawer-open")}, icon("menu")),
    h("a", {href: "/", "data-nav": "", class: "brand"}, "Tollgate"),
    h("nav", {class: "top-links", "aria-label": "Main"},
      h("a", {href: "/", "data-nav": ""}, "Chat"),
      h("a", {href: "/account", "data-nav": ""}, "Account"),
      isAdmin ? h("a", {href: "/admin", "data-nav": ""}, "Admin") : null),
    menu);
  const body = h("div", {class: "page"});
  r.append(top, body);
  return body;
}

// card is the small centred form of the sign-in pages.
function card(title, ...kids) {
  const r = mount();
  r.append(h("main", {class: "card-page"}, h("div", {class: "card"}, h("p", {class: "brand big"}, "Tollgate"), h("h1", {}, title), ...kids)));
}

function form(fields, submitLabel, onSubmit) {
  const msg = h("div", {class: "form-msg", "aria-live": "polite"});
  const btn = h("button", {type: "submit", class: "btn primary wide"}, submitLabel);
  const f = h("form", {class: "stack", novalidate: true, onsubmit: async e => {
    e.preventDefault();
    msg.replaceChildren();
    btn.disabled = true;
    try { await onSubmit(); } catch (err) { msg.append(errorBox(err)); } finally { btn.disabled = false; }
  }}, fields, msg, btn);
  return f;
}

function input(name, type = "text", attrs = {}) {
  return h("input", {name, type, required: true, ...attrs});
}

async function signIn(email, password, next) {
  await api("POST", "/api/auth/sessions", {email, password});
  await refreshMe();
  navigate(safeNext(next), true);
}

// safeNext keeps only same-app paths.
function safeNext(n) { return n && n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/login") ? n : "/"; }

function setupPage() {
  if (!app.status.setup_required) return navigate("/", true);
  const email = input("email", "email", {autocomplete: "username"});
  const name = input("display_name", "text", {autocomplete: "name", required: false});
  const pw = input("password", "password", {autocomplete: "new-password", minlength: 8});
  const token = input("setup_token", "text", {required: false, autocomplete: "off"});
  card("Create the first admin", form([
    field("Email", email), field("Name", name), field("Password", pw, "At least 8 characters."),
    field("Setup token", token, "Only when the server is not on loopback: printed at start and in <data_dir>/setup-token."),
  ], "Create admin", async () => {
    const body = {email: email.value, password: pw.value, display_name: name.value};
    if (token.value) body.setup_token = token.value;
    await api("POST", "/api/setup", body);
    await signIn(email.value, pw.value, "/");
  }));
}

function loginPage(_, params) {
  const email = input("email", "email", {autocomplete: "username"});
  const pw = input("password", "password", {autocomplete: "current-password"});
  const oauthErr = params.get("error");
  const providers = app.status.oauth_providers || [];
  const names = {github: "GitHub", apple: "Apple", oidc: ""};
  card("Sign in",
    oauthErr ? errorBox({message: "Sign-in with the provider failed (" + oauthErr.replace(/[^a-z_]/g, "") + "). Try again or use your password."}) : null,
    form([field("Email", email), field("Password", pw)], "Sign in", () => signIn(email.value, pw.value, params.get("next"))),
    providers.length ? h("div", {class: "stack oauth"}, providers.map(p =>
      h("a", {class: "btn wide", href: "/api/auth/oauth/" + encodeURIComponent(p.name)}, "Continue with " + (names[p.type] || p.name)))) : null,
    app.status.registration_enabled ? h("p", {class: "center"}, "No account? ", h("a", {href: "/register", "data-nav": ""}, "Register")) : null);
}

function registerPage() {
  const email = input("email", "email", {autocomplete: "username"});
  const name = input("display_name", "text", {autocomplete: "name", required: false});
  const pw = input("password", "password", {autocomplete: "new-password"});
  card("Create an account", form([field("Email", email), field("Name", name), field("Password", pw, "At least 8 characters.")], "Register", async () => {
    await api("POST", "/api/auth/register", {email: email.value, password: pw.value, display_name: name.value});
    await signIn(email.value, pw.value, "/");
  }), h("p", {class: "center"}, "Have an account? ", h("a", {href: "/login", "data-nav": ""}, "Sign in")));
}

// invitePage accepts an invite link (POST /api/invites/accept).
function invitePage(frame, token) {
  const out = h("div", {});
  frame.append(h("main", {class: "card-page"}, h("div", {class: "card"}, h("h1", {}, "Join a conversation"), out,
    h("button", {type: "button", class: "btn primary wide", onclick: async () => {
      try {
        const r = await api("POST", "/api/invites/accept", {token});
        navigate(r && r.conversation_id ? "/c/" + encodeURIComponent(r.conversation_id) : "/", true);
      } catch (e) { out.replaceChildren(errorBox(e)); }
    }}, "Join"))));
}

render();
