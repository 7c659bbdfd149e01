// chat.js: the chat page. Sidebar (new chat, search, conversations),
// a conversation with its branches, the composer, the live event stream.
import {h, append, clear, icon, relTime, errorBox, field, dialog, copyButton} from "./dom.js";
import {api, get, request, sse, qs} from "./api.js";
import {markdown} from "./md.js";

export async function chatPage(app, frame, convId) {
  frame.classList.add("chat-layout");
  const listEl = h("nav", {class: "conv-list", "aria-label": "Conversations"});
  const results = h("div", {class: "search-results", "aria-live": "polite"});
  let searchTimer = 0;
  const search = h("input", {type: "search", id: "search", placeholder: "Search messages", autocomplete: "off",
    oninput: () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => runSearch(search.value), 250); }});
  const sidebar = h("aside", {class: "sidebar", id: "sidebar"},
    h("a", {class: "btn primary wide", href: "/", "data-nav": "", id: "new-chat"}, icon("plus"), "New chat"),
    h("div", {class: "field"}, h("label", {for: "search", class: "sr-only"}, "Search messages"), search),
    results, listEl);
  const main = h("section", {class: "chat-main"});
  frame.append(sidebar, main);
  document.body.classList.remove("drawer-open");

  async function loadList() {
    try {
      const r = await get("/api/conversations" + qs({limit: 100}));
      renderList(r.data);
    } catch (e) { clear(listEl).append(errorBox(e)); }
  }
  function renderList(convs) {
    clear(listEl);
    if (!convs.length) { listEl.append(h("p", {class: "empty"}, "No conversations yet — start one.")); return; }
    const groups = [["Today", []], ["Previous 7 days", []], ["Older", []]];
    const day = 86400e3, start = new Date(); start.setHours(0, 0, 0, 0);
    for (const c of convs) {
      const t = new Date(c.last_activity_at).getTime();
      groups[t >= start.getTime() ? 0 : t >= start.getTime() - 7 * day ? 1 : 2][1].push(c);
    }
    for (const [name, cs] of groups) {
      if (!cs.length) continue;
      listEl.append(h("h2", {class: "group"}, name), h("ul", {}, cs.map(c => h("li", {},
        h("a", {href: "/c/" + encodeURIComponent(c.id), "data-nav": "", class: ["conv", c.id === convId && "active"], "data-id": c.id},
          h("span", {class: "conv-title"}, c.title || "Untitled"),
          c.role && c.role !== "owner" ? h("span", {class: "badge", title: "Shared with you as " + c.role}, "shared") : null,
          c.unread_count ? h("span", {class: "badge unread", "aria-label": c.unread_count + " unread"}, String(c.unread_count)) : null)))));
    }
  }
  async function runSearch(q) {
    clear(results);
    if (!q.trim()) return;
    try {
      const r = await get("/api/search" + qs({q}));
      if (!r.data.length) { results.append(h("p", {class: "empty"}, "No messages match.")); return; }
      results.append(h("ul", {class: "hits"}, r.data.map(hit => h("li", {},
        h("a", {href: "/c/" + encodeURIComponent(hit.conversation_id) + "#" + hit.message_id, "data-nav": "", class: "hit"}, snippet(hit.snippet), relTime(hit.created_at))))));
    } catch (e) { results.append(errorBox(e)); }
  }
  loadList();

  const models = get("/v1/models").then(r => r.data.map(m => m.id)).catch(() => []);
  if (!convId) return newChat(app, main, await models, loadList);
  const stop = await conversationView(app, main, convId, await models, loadList);
  app.cleanup = stop;
}

// snippet shows a search snippet with its **matches** highlighted.
function snippet(text) {
  return h("span", {class: "snippet"}, String(text).split("**").map((part, i) => i % 2 ? h("mark", {}, part) : part));
}

function modelPicker(models, value) {
  const sel = h("select", {id: "model", name: "model"}, models.map(m => h("option", {value: m, selected: m === value}, m)));
  if (value && !models.includes(value)) sel.append(h("option", {value, selected: true}, value));
  return sel;
}

function newChat(app, main, models, loadList) {
  const picker = modelPicker(models, models[0]);
  const sys = h("textarea", {id: "system-prompt", rows: 3, placeholder: "You are a helpful assistant."});
  const msg = h("div", {class: "form-msg"});
  const canChat = app.me.role !== "viewer";
  const composer = makeComposer(async text => {
    msg.replaceChildren();
    try {
      const conv = await api("POST", "/api/conversations", {title: text.slice(0, 60), model: picker.value, system_prompt: sys.value || undefined});
      history.replaceState(null, "", "/c/" + encodeURIComponent(conv.id));
      clear(main);
      await loadList();
      app.cleanup = await conversationView(app, main, conv.id, models, loadList, text);
    } catch (e) { msg.append(errorBox(e)); }
  }, canChat);
  main.append(h("header", {class: "chat-head"}, h("h1", {class: "chat-title"}, "New chat"), field("Model", picker)),
    h("div", {class: "messages empty-chat"}, h("div", {class: "col"},
      h("p", {class: "empty"}, models.length ? "Pick a model and write a message to start." : "No models are available to you."),
      h("details", {class: "sys"}, h("summary", {}, "System prompt (optional)"), field("System prompt", sys)), msg)),
    composer.el);
  composer.focus();
}

// makeComposer is the message box: Enter sends, Shift+Enter adds a line,
// Send turns into Stop while a reply streams, Esc stops.
function makeComposer(onSend, enabled = true, onStop = () => {}, onTyping = () => {}) {
  const ta = h("textarea", {id: "composer", rows: 1, placeholder: enabled ? "Message" : "Your role can read but not post", disabled: !enabled, "aria-label": "Message"});
  const btn = h("button", {type: "submit", class: "btn primary send", id: "send", disabled: !enabled, "aria-label": "Send"}, icon("send"));
  let streaming = false;
  const send = () => {
    if (streaming) { onStop(); return; }
    const t = ta.value;
    if (!t.trim()) return;
    ta.value = "";
    grow();
    onSend(t);
  };
  const grow = () => { ta.rows = Math.min(8, Math.max(1, ta.value.split("\n").length)); };
  ta.addEventListener("keydown", e => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    if (e.key === "Escape" && streaming) { e.preventDefault(); onStop(); }
  });
  ta.addEventListener("input", () => { grow(); onTyping(); });
  const el = h("form", {class: "composer", onsubmit: e => { e.preventDefault(); send(); }}, h("div", {class: "col row"}, ta, btn));
  return {
    el, focus: () => ta.focus(),
    setStreaming(on) {
      streaming = on;
      btn.replaceChildren(icon(on ? "stop" : "send"));
      btn.setAttribute("aria-label", on ? "Stop" : "Send");
      btn.id = on ? "stop" : "send";
      btn.classList.toggle("danger", on);
    },
  };
}

// conversationView shows one conversation and keeps it live; it returns
// the function that ends its streams and timers.
async function conversationView(app, main, id, models, loadList, firstMessage) {
  const path = "/api/conversations/" + encodeURIComponent(id);
  let conv;
  try { conv = await get(path); } catch (e) {
    main.append(h("div", {class: "messages"}, h("div", {class: "col"}, errorBox(e), h("a", {href: "/", "data-nav": ""}, "Start a new chat"))));
    return () => {};
  }
  const msgs = new Map();     // id → message
  const selected = new Map(); // parent id ("" for roots) → chosen child id
  const lastSeq = new Map();  // message id → seq of the last delta applied
  const seen = new Set();     // seq ids applied (two sources: the post and the live stream)
  const bubbles = new Map();  // message id → content element
  const typing = new Map();   // user id → timer
  const online = new Set();   // other users online (presence.update)
  let abort = null, stopped = false;
  const isOwner = !conv.role || conv.role === "owner";
  const canPost = app.me.role !== "viewer" && conv.role !== "reader";

  const title = h("button", {type: "button", class: "chat-title linkish", id: "conv-title", title: isOwner ? "Rename" : "", disabled: !isOwner, onclick: rename}, conv.title || "Untitled");
  const picker = modelPicker(models, conv.model);
  picker.addEventListener("change", async () => {
    try { conv = await api("PATCH", path, {model: picker.value}); } catch (e) { notice(e); }
  });
  const here = h("div", {class: "presence", id: "presence", "aria-live": "polite", hidden: true});
  const head = h("header", {class: "chat-head"}, h("h1", {}, title), here, field("Model", picker),
    h("div", {class: "actions"},
      isOwner ? h("button", {type: "button", class: "btn ghost", id: "share", "aria-label": "Share", title: "Share", onclick: shareDialog}, icon("share")) : null,
      isOwner ? h("button", {type: "button", class: "btn ghost", id: "participants", "aria-label": "Participants", title: "Participants", onclick: peopleDialog}, icon("users")) : null,
      isOwner ? h("button", {type: "button", class: "btn ghost", id: "delete-conv", "aria-label": "Delete conversation", title: "Delete conversation", onclick: deleteConv}, icon("trash")) : null));
  const list = h("div", {class: "col", id: "messages", "aria-live": "polite"});
  const scroller = h("div", {class: "messages"}, list);
  const status = h("div", {class: "col typing", "aria-live": "polite"});
  const errors = h("div", {class: "col"});
  const composer = makeComposer(text => post(text, tailId()), canPost, () => abort && abort.abort(), typingPing);
  main.append(head, scroller, status, errors, composer.el);

  function notice(e) { errors.replaceChildren(errorBox(e)); }

  // The message tree: children of a parent in creation order.
  function children(pid) {
    return [...msgs.values()].filter(m => (m.parent_id || "") === pid)
      .sort((a, b) => a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1);
  }
  function currentPath() {
    const out = [];
    let pid = "";
    for (;;) {
      const kids = children(pid);
      if (!kids.length) return out;
      const m = kids.find(k => k.id === selected.get(pid)) || kids[kids.length - 1];
      out.push(m);
      pid = m.id;
    }
  }
  function tailId() { const p = currentPath(); return p.length ? p[p.length - 1].id : null; }
  // select shows the branch that holds message id.
  function select(id) {
    let m = msgs.get(id);
    while (m) { selected.set(m.parent_id || "", m.id); m = msgs.get(m.parent_id); }
  }

  // showPresence lists the other users online, by the name their messages
  // carry (presence.update names only the user id).
  function showPresence() {
    const names = new Map();
    for (const m of msgs.values()) if (m.author && m.author.display_name) names.set(m.author.user_id, m.author.display_name);
    const people = [...online].map(id => h("span", {class: "presence-user", "data-user": id, title: "Online"},
      h("span", {class: "dot", "aria-hidden": "true"}), names.get(id) || "Participant " + id.slice(-4)));
    here.replaceChildren(...(people.length ? [h("span", {class: "sr-only"}, "Online: "), ...people] : []));
    here.hidden = !people.length;
  }

  function render() {
    showPresence();
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    clear(list);
    bubbles.clear();
    const p = currentPath();
    if (!p.length) list.append(h("p", {class: "empty"}, canPost ? "Write the first message below." : "No messages yet."));
    for (const m of p) list.append(bubble(m));
    if (nearBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  function content(m) {
    const el = h("div", {class: "content"});
    fillContent(el, m);
    bubbles.set(m.id, el);
    return el;
  }
  function fillContent(el, m) {
    clear(el);
    if (m.role === "assistant") el.append(markdown(m.content));
    else el.append(h("p", {class: "plain"}, m.content));
    if (m.status === "pending") el.append(h("span", {class: "caret", "aria-hidden": "true"}));
  }

  function bubble(m) {
    const kids = children(m.parent_id || "");
    const idx = kids.findIndex(k => k.id === m.id);
    const nav = kids.length > 1 ? h("div", {class: "branches", "aria-label": "Branches"},
      h("button", {type: "button", class: "btn ghost small", "aria-label": "Previous branch", disabled: idx === 0,
        onclick: () => { selected.set(m.parent_id || "", kids[idx - 1].id); render(); }}, "<"),
      h("span", {class: "branch-pos"}, `${idx + 1}/${kids.length}`),
      h("button", {type: "button", class: "btn ghost small", "aria-label": "Next branch", disabled: idx === kids.length - 1,
        onclick: () => { selected.set(m.parent_id || "", kids[idx + 1].id); render(); }}, ">")) : null;
    const art = h("article", {class: ["msg", m.role], "data-id": m.id, "data-status": m.status});
    if (m.deleted_at) {
      append(art, [h("p", {class: "muted"}, "Message deleted — ",
        h("button", {type: "button", class: "linkish undo", onclick: () => act("POST", "/api/messages/" + m.id + "/restore")}, "Undo")), nav]);
      return art;
    }
    // Another participant's message: its author's name, and no Edit (one
    // edits only one's own messages).
    const other = m.author && m.author.user_id !== app.me.id;
    const tools = h("div", {class: "msg-tools"},
      copyButton(() => m.content),
      m.role === "user" && canPost && !other ? h("button", {type: "button", class: "btn small edit", onclick: () => edit(m, art)}, "Edit") : null,
      m.role === "assistant" && canPost ? h("button", {type: "button", class: "btn small regen", onclick: () => regenerate(m)}, "Regenerate") : null,
      canPost ? h("button", {type: "button", class: "btn small del", onclick: () => act("DELETE", "/api/messages/" + m.id)}, "Delete") : null);
    append(art, [h("div", {class: "who-line"}, m.role === "user" ? (other ? m.author.display_name || "Participant" : "You") : (m.model || "assistant"), " · ", relTime(m.created_at)),
      content(m)]);
    if (m.status === "incomplete" || m.status === "error") {
      append(art, [h("p", {class: "msg-notice"}, m.status === "incomplete" ? "Incomplete: the reply was stopped." : "The reply failed.",
        canPost ? h("button", {type: "button", class: "btn small retry", onclick: () => regenerate(m)}, "Retry") : null)]);
    }
    append(art, [tools, nav]);
    return art;
  }

  async function act(method, url, body) {
    try {
      const m = await api(method, url, body);
      if (m && m.id) msgs.set(m.id, m); else await reload();
      render();
    } catch (e) { notice(e); }
  }

  // edit posts the new text as a sibling of m (a new branch). The API
  // continues after the newest message when a post names no parent, so
  // the first message of a conversation is edited in place instead.
  function edit(m, art) {
    const ta = h("textarea", {class: "edit-box", rows: 3, "aria-label": "Edit message"});
    ta.value = m.content;
    const save = m.parent_id ? () => post(ta.value, m.parent_id) : () => act("PATCH", "/api/messages/" + m.id, {content: ta.value});
    clear(art).append(ta, h("div", {class: "row"},
      h("button", {type: "button", class: "btn primary small save", onclick: save}, m.parent_id ? "Save & submit" : "Save"),
      h("button", {type: "button", class: "btn small", onclick: render}, "Cancel")));
    ta.focus();
  }
  function regenerate(m) {
    const u = msgs.get(m.parent_id);
    if (u && u.parent_id) post(u.content, u.parent_id);
    else if (u) notice({message: "The first exchange of a conversation cannot be branched; edit the message or ask again below."});
  }

  // apply handles one event of the post's stream or the live stream.
  function apply(type, data, seq) {
    if (seq) { if (seen.has(seq)) return; seen.add(seq); }
    switch (type) {
      case "message.created":
        msgs.set(data.id, data);
        select(data.id);
        render();
        break;
      case "message.delta": {
        const m = msgs.get(data.message_id);
        if (!m || (seq && seq <= (lastSeq.get(m.id) || 0))) return;
        if (seq) lastSeq.set(m.id, seq);
        m.content += data.delta;
        const el = bubbles.get(m.id);
        if (el) {
          const near = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
          fillContent(el, m);
          if (near) scroller.scrollTop = scroller.scrollHeight;
        }
        break;
      }
      case "message.done": case "message.updated": case "message.deleted": case "message.restored":
        if (data.id) { msgs.set(data.id, data); render(); }
        if (type === "message.done") { markRead(data.id); loadList(); }
        break;
      case "conversation.updated":
        conv = {...conv, ...data};
        title.textContent = conv.title || "Untitled";
        break;
      case "typing.update":
        if (data.user_id === app.me.id) return;
        clearTimeout(typing.get(data.user_id));
        if (data.typing) typing.set(data.user_id, setTimeout(() => { typing.delete(data.user_id); showTyping(); }, 6000));
        else typing.delete(data.user_id);
        showTyping();
        break;
      case "presence.update":
        if (!data.user_id || data.user_id === app.me.id) return;
        if (data.status === "online") online.add(data.user_id); else online.delete(data.user_id);
        showPresence();
        break;
      case "resync":
        reload();
        break;
    }
  }
  function showTyping() {
    status.replaceChildren(typing.size ? h("p", {class: "muted"}, typing.size === 1 ? "Someone is typing…" : typing.size + " people are typing…") : "");
  }

  async function post(text, parentId) {
    if (abort) return;
    errors.replaceChildren();
    abort = new AbortController();
    composer.setStreaming(true);
    try {
      const body = {content: text, stream: true};
      if (parentId) body.parent_id = parentId;
      const r = await request("POST", path + "/messages", body, abort.signal);
      await sse(r, ev => {
        const data = JSON.parse(ev.data);
        if (ev.event === "error") { notice(data.error || data); return; }
        apply(ev.event, data, Number(ev.id) || 0);
      });
    } catch (e) {
      if (e.name !== "AbortError") notice(e);
    } finally {
      const wasStopped = abort && abort.signal.aborted;
      abort = null;
      composer.setStreaming(false);
      if (wasStopped) setTimeout(reload, 300); // the server stores the cut reply as incomplete
      typingSent = 0;
    }
  }

  async function reload() {
    try {
      const r = await get(path + "/messages");
      msgs.clear();
      for (const m of r.data) msgs.set(m.id, m);
      render();
    } catch (e) { notice(e); }
  }

  async function markRead(mid) {
    if (!mid) return;
    try { await api("POST", path + "/read", {message_id: mid}); } catch { /* not fatal */ }
  }

  let typingSent = 0;
  function typingPing() {
    if (!canPost || Date.now() - typingSent < 3000) return;
    typingSent = Date.now();
    api("POST", path + "/typing", {typing: true}).catch(() => {});
  }

  async function rename() {
    const inp = h("input", {type: "text", "aria-label": "Conversation title", value: conv.title || ""});
    const done = async save => {
      if (save && inp.value.trim() && inp.value !== conv.title) {
        try { conv = await api("PATCH", path, {title: inp.value.trim()}); loadList(); } catch (e) { notice(e); }
      }
      title.textContent = conv.title || "Untitled";
      inp.replaceWith(title);
    };
    inp.addEventListener("keydown", e => { if (e.key === "Enter") done(true); if (e.key === "Escape") done(false); });
    inp.addEventListener("blur", () => done(true), {once: true});
    title.replaceWith(inp);
    inp.focus();
    inp.select();
  }

  async function deleteConv() {
    if (!confirm("Delete this conversation?")) return;
    try { await api("DELETE", path); app.navigate("/"); } catch (e) { notice(e); }
  }

  function shareDialog() {
    const body = h("div", {class: "stack"});
    const d = dialog("Share", body);
    const show = url => {
      const link = location.origin + url;
      const inp = h("input", {type: "text", readonly: true, value: link, "aria-label": "Share link", id: "share-link"});
      body.replaceChildren(h("p", {}, "Anyone with the link can read this conversation's current branch."), inp,
        h("div", {class: "row"}, copyButton(() => link), h("button", {type: "button", class: "btn danger", onclick: async () => {
          try { await api("DELETE", path + "/share"); d.close(); } catch (e) { body.append(errorBox(e)); }
        }}, "Stop sharing")));
    };
    body.append(h("button", {type: "button", class: "btn primary", onclick: async () => {
      try { show((await api("POST", path + "/share")).url); } catch (e) { body.append(errorBox(e)); }
    }}, "Create share link"));
  }

  async function peopleDialog() {
    const listP = h("ul", {class: "people"});
    const email = h("input", {type: "email", required: true});
    const role = h("select", {}, h("option", {value: "reader"}, "reader"), h("option", {value: "writer"}, "writer"));
    const out = h("div", {});
    const load = async () => {
      try {
        const r = await get(path + "/participants");
        listP.replaceChildren(...(r.data.length ? r.data.map(p => h("li", {}, h("code", {}, p.user_id), " ", h("span", {class: "badge"}, p.role),
          h("button", {type: "button", class: "btn small", onclick: async () => {
            try { await api("DELETE", path + "/participants/" + encodeURIComponent(p.user_id)); load(); } catch (e) { out.replaceChildren(errorBox(e)); }
          }}, "Remove"))) : [h("li", {class: "empty"}, "Only you so far.")]));
      } catch (e) { out.replaceChildren(errorBox(e)); }
    };
    dialog("Participants", listP,
      h("form", {class: "row wrap", onsubmit: async e => {
        e.preventDefault();
        try { await api("POST", path + "/participants", {email: email.value, role: role.value}); email.value = ""; load(); out.replaceChildren(); }
        catch (err) { out.replaceChildren(errorBox(err)); }
      }}, field("Email", email), field("Role", role), h("button", {type: "submit", class: "btn primary"}, "Add")),
      h("button", {type: "button", class: "btn", onclick: async () => {
        try {
          const inv = await api("POST", path + "/invites", {role: role.value});
          const link = location.origin + "/invite/" + encodeURIComponent(inv.token);
          out.replaceChildren(h("p", {}, "Invite link (shown once):"), h("input", {type: "text", readonly: true, value: link, "aria-label": "Invite link"}), copyButton(() => link));
        } catch (err) { out.replaceChildren(errorBox(err)); }
      }}, "Create invite link"), out);
    load();
  }

  // The live stream: a second tab sees replies stream in.
  const es = new EventSource(path.replace("/api/conversations/", "/api/stream/conversations/"));
  for (const t of ["message.created", "message.delta", "message.done", "message.updated", "message.deleted", "message.restored",
    "conversation.updated", "typing.update", "presence.update", "resync"]) {
    es.addEventListener(t, ev => { try { apply(t, JSON.parse(ev.data), Number(ev.lastEventId) || 0); } catch { /* ignore a bad frame */ } });
  }
  const beat = () => api("POST", "/api/presence/heartbeat").catch(() => {});
  beat();
  const beatTimer = setInterval(beat, 30000);

  await reload();
  if (location.hash) {
    const target = location.hash.slice(1);
    if (msgs.has(target)) {
      select(target);
      render();
      const el = list.querySelector(`[data-id="${CSS.escape(target)}"]`);
      if (el) { el.classList.add("found"); el.scrollIntoView({block: "center"}); }
    }
  }
  const last = tailId();
  if (last) markRead(last);
  if (firstMessage) post(firstMessage, null);
  composer.focus();
  return () => {
    stopped = true;
    es.close();
    clearInterval(beatTimer);
    if (abort) abort.abort();
  };
}

// sharePage is the public read-only snapshot of a shared conversation.
export async function sharePage(app, root, token) {
  const main = h("main", {class: "share"});
  root.append(main);
  try {
    const s = await get("/api/share/" + encodeURIComponent(token));
    main.append(h("h1", {}, s.title || "Shared conversation"), h("p", {class: "muted"}, "Shared by " + s.owner_display_name),
      h("div", {class: "col"}, s.messages.map(m => h("article", {class: ["msg", m.role]},
        h("div", {class: "who-line"}, m.role, " · ", relTime(m.created_at)),
        h("div", {class: "content"}, m.role === "assistant" ? markdown(m.content) : h("p", {class: "plain"}, m.content))))));
  } catch (e) { main.append(errorBox(e)); }
}
