// The web console: log in with a console token, then chat over /api and /ws.
// No inline script, no framework, nothing fetched from elsewhere (docs/console.md).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const items = new Map(); // message_id -> <li>
  let T = {};
  let csrf = null;
  let last = 0;
  let ws = null;
  let retry = 500;

  const t = (key, values) =>
    (T[key] || key).replace(/\{(\w+)\}/g, (_, name) => (values && name in values ? values[name] : ""));

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
    return { status: response.status, data };
  }

  function state(key) { $("state").textContent = key ? t(key) : ""; }

  function show(view) {
    $("login").hidden = view !== "login";
    $("chat").hidden = view !== "chat";
    $("logout").hidden = view !== "chat";
    if (view === "login") $("token").focus();
    if (view === "chat") $("text").focus();
  }

  function render(event) {
    const list = $("messages");
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
    let li = items.get(event.message_id);
    if (!li) {
      li = document.createElement("li");
      li.className = event.type === "mine" ? "mine" : event.type === "notice" ? "notice" : "";
      items.set(event.message_id, li);
      list.appendChild(li);
    }
    li.textContent = event.text || "";
    if (event.file) li.appendChild(attachment(event.file));
    const rows = event.buttons || [];
    for (const row of rows) {
      const box = document.createElement("div");
      box.className = "buttons";
      for (const b of row) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = b.label;
        if (b.style === "danger") button.className = "danger";
        button.addEventListener("click", () => press(b.action, event.message_id, li));
        box.appendChild(button);
      }
      li.appendChild(box);
    }
    if (stick) list.scrollTop = list.scrollHeight;
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
      const me = await api("GET", "/api/me");
      if (me.status === 401) { show("login"); state(""); return; }
      state("offline");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    });
  }

  async function enter() {
    const me = await api("GET", "/api/me");
    if (me.status !== 200) { show("login"); return; }
    csrf = me.data.csrf || null;
    $("who").textContent = t("signed_in_as", { person: me.data.person, role: me.data.role });
    show("chat");
    if (!ws) connect();
  }

  async function login(submit) {
    submit.preventDefault();
    const r = await api("POST", "/api/login", { token: $("token").value });
    $("token").value = "";
    if (r.status === 200) { $("login-error").textContent = ""; await enter(); return; }
    $("login-error").textContent = t(r.status === 429 ? "too_many" : r.status === 401 ? "wrong_token" : "failed");
  }

  async function send(submit) {
    submit.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    const r = await api("POST", "/api/messages", { text, client_id: crypto.randomUUID() });
    if (r.status >= 400) { state("failed"); return; }
    $("text").value = "";
  }

  async function logout() {
    await api("POST", "/api/logout", {});
    csrf = null;
    if (ws) ws.close();
    $("messages").replaceChildren();
    items.clear();
    last = 0;
    $("who").textContent = "";
    show("login");
  }

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
    $("text").addEventListener("keydown", (key) => {
      if (key.key === "Enter" && !key.shiftKey) { key.preventDefault(); $("compose").requestSubmit(); }
    });
    await enter();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
