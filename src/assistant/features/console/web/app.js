// The web console: log in with a console token, then the pages the role may use; the chat
// talks over /api and /ws. No inline script, no framework, nothing fetched from elsewhere
// (docs/console.md). pages.js adds the other pages through window.Console.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const items = new Map(); // message_id -> <li>
  const pages = {}; // name -> {show(section), hide()}
  let T = {};
  let csrf = null;
  let me = null;
  let last = 0;
  let oldest = null;
  let ws = null;
  let retry = 500;
  let current = null;
  let attached = []; // uploads waiting to be sent: {ref, name, mime_type, size, kind}

  const t = (key, values) =>
    (T[key] || key).replace(/\{(\w+)\}/g, (_, name) => (values && name in values ? values[name] : ""));

  // el("button", {class: "danger", onclick: f}, "text", child, ...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (response.status === 401 && path !== "/api/login" && path !== "/api/me") { show(null); }
    return { status: response.status, data };
  }

  let toastTimer = null;
  function toast(text, bad) {
    const box = $("toast");
    box.textContent = text;
    box.className = bad ? "bad" : "";
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  // "3 min", "2 h", "5 d" (durations in seconds)
  function ago(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return t("n_s", { n: s });
    if (s < 3600) return t("n_min", { n: Math.round(s / 60) });
    if (s < 86400) return t("n_h", { n: Math.round(s / 3600) });
    return t("n_d", { n: Math.round(s / 86400) });
  }

  function when(epoch) {
    if (!epoch) return "—";
    const d = new Date(epoch * 1000);
    return d.toLocaleString(T.lang || undefined, { dateStyle: "short", timeStyle: "short" });
  }

  function state(key) { $("state").textContent = key ? t(key) : ""; }

  // --- navigation ----------------------------------------------------------------------------

  function show(page) {
    const allowed = me ? me.pages : [];
    if (page && !allowed.includes(page)) page = allowed[0] || null;
    $("login").hidden = page !== null;
    $("nav").hidden = page === null;
    $("logout").hidden = page === null;
    for (const a of document.querySelectorAll("#nav a")) {
      a.hidden = !allowed.includes(a.dataset.page);
      a.classList.toggle("current", a.dataset.page === page);
      if (a.dataset.page === page) {
        a.setAttribute("aria-current", "page");
        a.scrollIntoView({ block: "nearest", inline: "nearest" }); // a phone's bar scrolls
      }
      else a.removeAttribute("aria-current");
    }
    for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== `page-${page}`;
    if (current && current !== page && pages[current] && pages[current].hide) pages[current].hide();
    current = page;
    $("toast").hidden = true;
    if (page === null) { $("token").focus(); return; }
    document.title = `${t("page_" + page)} · ${T.name || "assistant"}`;
    if (pages[page]) pages[page].show($(`page-${page}`));
  }

  function route() { if (me) show((location.hash || "#chat").slice(1)); }

  // --- chat ----------------------------------------------------------------------------------

  function bubble(event) {
    const li = el("li", { class: event.type === "mine" ? "mine" : event.type === "notice" ? "notice" : "" });
    items.set(event.message_id, li);
    return li;
  }

  function fill(li, event) {
    li.replaceChildren(event.text || "");
    for (const name of event.files || []) li.append(el("div", { class: "file" }, name));
    if (event.file) li.append(attachment(event.file));
    for (const row of event.buttons || []) {
      li.append(el("div", { class: "buttons" }, row.map((b) =>
        el("button", {
          type: "button",
          class: b.style === "danger" ? "danger" : "",
          onclick: () => press(b.action, event.message_id, li),
        }, b.label))));
    }
  }

  function render(event) {
    const list = $("messages");
    const box = $("scroll");
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 40;
    let li = items.get(event.message_id);
    if (!li) { li = bubble(event); list.append(li); }
    fill(li, event);
    if (oldest === null && typeof event.id === "number") oldest = event.id;
    if (stick) box.scrollTop = box.scrollHeight;
  }

  async function older() {
    if (!oldest) return;
    const r = await api("GET", `/api/messages?before=${oldest}`);
    if (r.status !== 200) return;
    const list = $("messages");
    const box = $("scroll");
    const height = box.scrollHeight;
    const fresh = [];
    for (const event of r.data.events) {
      oldest = Math.min(oldest, event.id);
      if (items.has(event.message_id) && !fresh.includes(items.get(event.message_id))) continue;
      let li = items.get(event.message_id);
      if (!li) { li = bubble(event); fresh.push(li); }
      fill(li, event);
    }
    list.prepend(...fresh);
    $("older").hidden = !r.data.more;
    box.scrollTop += box.scrollHeight - height;
  }

  function attachment(file) {
    // a picture is shown; any file is offered as a download (same-origin, session cookie)
    const box = document.createElement("div");
    box.className = "file";
    if (file.kind === "image") {
      const img = document.createElement("img");
      img.src = file.url;
      img.alt = file.name;
      box.appendChild(img);
    }
    const link = document.createElement("a");
    link.href = file.url;
    link.download = file.name;
    link.textContent = file.name;
    box.appendChild(link);
    return box;
  }

  async function press(action, card, li) {
    for (const b of li.querySelectorAll("button")) b.disabled = true;
    const r = await api("POST", "/api/messages", { action, message_id: card });
    if (r.status >= 400) state("failed");
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(`${scheme}${location.host}/ws?after=${last}`);
    state("connecting");
    ws.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (typeof event.id === "number") last = Math.max(last, event.id);
      if (event.type === "ready") { retry = 500; state("online"); }
      else if (event.type === "busy" || event.type === "typing") state("working");
      else if (event.type === "idle") state("online");
      else if (event.type === "close") ws.close();
      else render(event);
    });
    ws.addEventListener("close", async () => {
      ws = null;
      const r = await api("GET", "/api/me");
      if (r.status === 401) { me = null; show(null); state(""); return; }
      state("offline");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    });
  }

  async function enter() {
    const r = await api("GET", "/api/me");
    if (r.status !== 200) { show(null); return; }
    me = r.data;
    csrf = me.csrf || null;
    $("who").textContent = t("signed_in_as", { person: me.person, role: t("role_" + me.role) });
    if (!ws) {
      // the newest page of history first, then everything after it live
      last = me.last_event || 0;
      oldest = last + 1;
      await older();
      connect();
    }
    route();
  }

  async function login(submit) {
    submit.preventDefault();
    const r = await api("POST", "/api/login", { token: $("token").value });
    $("token").value = "";
    if (r.status === 200) { $("login-error").textContent = ""; await enter(); return; }
    $("login-error").textContent = t(r.status === 429 ? "too_many" : r.status === 401 ? "wrong_token" : "failed");
  }

  function chips() {
    $("chips").replaceChildren(...attached.map((a, i) => el("span", { class: "chip" },
      a.name,
      el("button", { type: "button", class: "ghost small", "aria-label": t("remove"),
        onclick: () => { attached.splice(i, 1); chips(); } }, "×"))));
  }

  async function upload() {
    for (const file of $("file").files) {
      const headers = { "Content-Type": file.type || "application/octet-stream", "X-File-Name": encodeURIComponent(file.name) };
      if (csrf) headers["X-CSRF-Token"] = csrf;
      const r = await fetch("/api/upload", { method: "POST", headers, body: file, credentials: "same-origin" });
      let data = {};
      try { data = await r.json(); } catch (e) { /* not JSON */ }
      if (r.status !== 201) { toast(data.error || t("failed"), true); continue; }
      attached.push(data);
    }
    $("file").value = "";
    chips();
  }

  async function send(submit) {
    submit.preventDefault();
    const text = $("text").value.trim();
    if (!text && !attached.length) return;
    const body = { text, client_id: crypto.randomUUID() };
    if (attached.length) body.attachments = attached;
    const r = await api("POST", "/api/messages", body);
    if (r.status >= 400) { state("failed"); toast(r.data.error || t("failed"), true); return; }
    $("text").value = "";
    attached = [];
    chips();
  }

  async function logout() {
    await api("POST", "/api/logout", {});
    csrf = null;
    me = null;
    if (ws) ws.close();
    $("messages").replaceChildren();
    items.clear();
    last = 0;
    oldest = null;
    $("who").textContent = "";
    show(null);
  }

  pages.chat = { show: () => { const box = $("scroll"); box.scrollTop = box.scrollHeight; $("text").focus(); } };

  async function start() {
    const r = await api("GET", "/console/strings.json");
    T = r.data;
    document.documentElement.lang = T.lang || "en";
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    $("title").textContent = document.title = T.name || "assistant";
    $("text").placeholder = t("placeholder");
    $("login").addEventListener("submit", login);
    $("compose").addEventListener("submit", send);
    $("logout").addEventListener("click", logout);
    $("older").addEventListener("click", older);
    $("file").addEventListener("change", upload);
    $("attach").title = t("attach_title");
    $("attach").addEventListener("keydown", (key) => { if (key.key === "Enter" || key.key === " ") { key.preventDefault(); $("file").click(); } });
    $("text").addEventListener("keydown", (key) => {
      if (key.key === "Enter" && !key.shiftKey) { key.preventDefault(); $("compose").requestSubmit(); }
    });
    window.addEventListener("hashchange", route);
    await enter();
  }

  window.Console = { api, t, el, toast, ago, when, pages, me: () => me };
  document.addEventListener("DOMContentLoaded", start);
})();
