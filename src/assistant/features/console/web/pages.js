// The console's pages besides the chat: Approvals, People, Jobs, Audit, System. Each asks its
// /api endpoint (the server decides what the role may see) and draws plain DOM.
"use strict";
(() => {
  const { api, t, el, toast, ago, when, pages } = window.Console;
  let timer = null;

  function every(seconds, f) {
    clearInterval(timer);
    timer = setInterval(f, seconds * 1000);
  }
  const stop = () => clearInterval(timer);

  function heading(key, ...extra) {
    return el("div", { class: "heading" }, el("h1", {}, t(key)), ...extra);
  }

  // a table that turns into cards on a phone: each cell carries its column's label
  function table(columns, rows, empty) {
    if (!rows.length) return el("p", { class: "empty" }, t(empty));
    return el("table", {},
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, t(c))))),
      el("tbody", {}, rows.map((cells) =>
        el("tr", {}, cells.map((cell, i) => el("td", { "data-label": t(columns[i]) }, cell))))));
  }

  async function act(method, path, body, refresh) {
    const r = await api(method, path, body);
    const message = r.data.message || r.data.error || (r.status < 400 ? t("done") : t("failed"));
    toast(message, r.status >= 400);
    if (refresh) await refresh();
    return r;
  }

  function badge(text, kind) { return el("span", { class: `badge ${kind || ""}` }, text); }

  // --- approvals -----------------------------------------------------------------------------

  async function approvals(section) {
    const r = await api("GET", "/api/approvals");
    if (r.status !== 200) return;
    const refresh = () => approvals(section);
    const cards = r.data.approvals.map((a) => {
      const code = el("input", { type: "text", inputmode: "numeric", autocomplete: "one-time-code",
        placeholder: t("totp_placeholder"), class: "code", "aria-label": t("totp_placeholder"), hidden: !a.totp });
      const decide = (decision) => async () => {
        await act("POST", `/api/approvals/${a.id}`, { decision, code: code.value.trim() }, null);
        toast(t("decision_sent"));
        setTimeout(refresh, 800);
      };
      return el("article", { class: "card approval", "data-id": a.id },
        el("div", { class: "row" },
          el("strong", {}, `#${a.id}`),
          badge(a.hosts.join(", "), "host"),
          el("span", { class: "muted" }, t("asked_ago", { age: ago(a.age) })),
          el("span", { class: "muted" }, t("expires_in", { left: ago(a.expires_in) }))),
        el("pre", { class: "command" }, a.command),
        el("p", {}, t("requested_by", { name: a.requester_name || a.requester, account: a.requester })),
        a.reason ? el("p", { class: "muted" }, a.reason) : null,
        el("div", { class: "actions" },
          code,
          el("button", { type: "button", onclick: decide("approve") }, t("approve")), // the server decides who may
          el("button", { type: "button", class: "danger", onclick: decide("deny") }, t(a.mine ? "withdraw" : "deny"))));
    });
    section.replaceChildren(
      heading("page_approvals"),
      cards.length ? el("div", { class: "cards" }, cards) : el("p", { class: "empty" }, t("no_approvals")));
  }
  pages.approvals = { show: (s) => { approvals(s); every(5, () => approvals(s)); }, hide: stop };

  // --- people --------------------------------------------------------------------------------

  const ROLES = ["user", "admin", "guest", "owner"];

  async function people(section) {
    const r = await api("GET", "/api/people");
    if (r.status !== 200) return;
    const refresh = () => people(section);
    const pairing = r.data.pairing.map((p) => {
      const role = el("select", { "aria-label": t("role") }, ROLES.map((x) => el("option", { value: x }, t("role_" + x))));
      const path = `/api/pairing/${encodeURIComponent(p.channel)}/${encodeURIComponent(p.code)}`;
      return [
        el("span", {}, p.name || "—", el("br"), el("small", { class: "muted" }, `${p.channel} ${p.user_id}`)),
        el("code", {}, p.code),
        ago(p.age),
        el("div", { class: "actions" }, role,
          el("button", { type: "button", onclick: () => act("POST", path, { decision: "approve", role: role.value }, refresh) }, t("approve")),
          el("button", { type: "button", class: "danger", onclick: () => act("POST", path, { decision: "reject" }, refresh) }, t("reject"))),
      ];
    });
    const users = r.data.users.map((u) => [u.account, u.name || "—", badge(t("role_" + u.role), u.role), u.source]);
    const tokens = r.data.tokens.map((k) => [
      k.name, badge(t("role_" + k.role), k.role), when(k.created_at), when(k.last_used_at),
      el("button", { type: "button", class: "danger small", onclick: () => {
        if (confirm(t("revoke_confirm", { name: k.name }))) act("POST", `/api/tokens/${encodeURIComponent(k.name)}/revoke`, {}, refresh);
      } }, t("revoke")),
    ]);
    const name = el("input", { type: "text", placeholder: t("token_name"), "aria-label": t("token_name"), pattern: "[A-Za-z0-9._-]{1,64}", required: true });
    const role = el("select", { "aria-label": t("role") }, ["user", "admin"].map((x) => el("option", { value: x }, t("role_" + x))));
    const shown = el("div", {});
    const form = el("form", { class: "inline", onsubmit: async (e) => {
      e.preventDefault();
      const c = await api("POST", "/api/tokens", { name: name.value.trim(), role: role.value });
      if (c.status !== 201) { toast(c.data.error || t("failed"), true); return; }
      await refresh();
      section.querySelector(".new-token").replaceChildren(
        el("p", {}, t("token_once", { name: c.data.name })), el("pre", { class: "secret" }, c.data.token));
    } }, name, role, el("button", { type: "submit" }, t("create_token")));
    shown.className = "new-token";
    section.replaceChildren(
      heading("page_people"),
      el("h2", {}, t("pairing_requests")),
      table(["who", "code", "waiting", "decision"], pairing, "no_pairing"),
      el("h2", {}, t("people_roles")),
      table(["account", "col_name", "role", "granted_by"], users, "no_people"),
      el("h2", {}, t("console_tokens")),
      table(["col_name", "role", "created", "last_used", ""], tokens, "no_tokens"),
      form, shown);
  }
  pages.people = { show: (s) => { people(s); every(10, () => { if (!s.querySelector(".secret")) people(s); }); }, hide: stop };

  // --- jobs ----------------------------------------------------------------------------------

  async function jobs(section) {
    const r = await api("GET", "/api/jobs");
    if (r.status !== 200) return;
    const refresh = () => jobs(section);
    if (!r.data.enabled) { section.replaceChildren(heading("page_jobs"), el("p", { class: "empty" }, t("scheduler_off"))); return; }
    const rows = r.data.jobs.map((j) => [
      el("code", {}, j.id),
      el("span", {}, j.what, el("br"), el("small", { class: "muted" }, j.schedule)),
      j.paused ? badge(t("paused"), "warn") : when(j.next_run),
      j.last_run_at ? `${when(j.last_run_at)} (${j.runs})` : "—",
      j.last_result ? badge(j.last_result, j.last_result.startsWith("ok") ? "ok" : "bad") : "—",
      el("span", {}, j.owner_name, el("br"), el("small", { class: "muted" }, j.owner)),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "small", onclick: () => act("POST", `/api/jobs/${j.id}/run`, {}, refresh) }, t("run_now")),
        el("button", { type: "button", class: "ghost small", "data-pause": j.id, onclick: () =>
          act("POST", `/api/jobs/${j.id}/${j.paused ? "resume" : "pause"}`, {}, refresh) }, t(j.paused ? "resume" : "pause")),
        el("button", { type: "button", class: "danger small", "data-cancel": j.id, onclick: () => act("POST", `/api/jobs/${j.id}/cancel`, {}, refresh) }, t("cancel"))),
    ]);
    section.replaceChildren(heading("page_jobs"),
      table(["id", "job", "next_run", "last_run", "result", "owner", ""], rows, "no_jobs"));
  }
  pages.jobs = { show: (s) => { jobs(s); every(15, () => jobs(s)); }, hide: stop };

  // --- memory --------------------------------------------------------------------------------

  function memory(section) {
    const query = el("input", { type: "search", placeholder: t("memory_search"), "aria-label": t("memory_search") });
    const space = el("select", { "aria-label": t("memory_space") });
    const body = el("div", {});
    let spaces = null;
    async function load() {
      const q = new URLSearchParams({ q: query.value.trim(), space: space.value || "" });
      const r = await api("GET", `/api/memory?${q}`);
      if (r.status !== 200) { body.replaceChildren(el("p", { class: "empty" }, r.data.error || t("failed"))); return; }
      if (!r.data.enabled) { body.replaceChildren(el("p", { class: "empty" }, t("memory_off"))); return; }
      if (spaces === null) {
        spaces = r.data.spaces;
        space.replaceChildren(el("option", { value: "" }, t(spaces.length > 1 ? "memory_everyone" : "memory_mine")),
          ...(spaces.length > 1 ? spaces.map((x) => el("option", { value: x }, x)) : []));
        space.hidden = spaces.length < 2;
      }
      const rows = r.data.memories.map((m) => [
        el("span", {}, m.text),
        el("span", {}, m.space, el("br"), el("small", { class: "muted" }, m.owner)),
        el("span", {}, when(m.created), el("br"), el("small", { class: "muted" }, m.score === null ? m.source : `${m.source} · ${m.score.toFixed(2)}`)),
        el("button", { type: "button", class: "danger small", "data-forget": m.id, onclick: () =>
          act("POST", "/api/memory/forget", { id: m.id, space: m.space }, load) }, t("forget")),
      ]);
      body.replaceChildren(table(["memory", "memory_space", "created", ""], rows, "no_memories"));
    }
    const form = el("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); load(); } },
      query, space, el("button", { type: "submit" }, t("search")));
    space.addEventListener("change", load);
    section.replaceChildren(heading("page_memory"), form, body);
    load();
  }
  pages.memory = { show: memory };

  // --- hosts ---------------------------------------------------------------------------------

  async function hosts(section) {
    const r = await api("GET", "/api/hosts");
    if (r.status !== 200) return;
    const refresh = () => hosts(section);
    if (!r.data.enabled) { section.replaceChildren(heading("page_hosts"), el("p", { class: "empty" }, t("ssh_off"))); return; }
    const cards = r.data.hosts.map((h) => {
      const p = h.probe;
      const state = p ? badge(p.ok ? t("reachable", { ms: p.ms }) : t("unreachable"), p.ok ? "ok" : "bad")
        : badge(t("not_probed"));
      const probe = el("button", { type: "button", class: "ghost small", "data-probe": h.name, onclick: async () => {
        probe.disabled = true;
        await api("POST", `/api/hosts/${encodeURIComponent(h.name)}/probe`, {});
        await refresh();
      } }, t("probe"));
      return el("article", { class: "card host", "data-host": h.name },
        el("div", { class: "row" }, el("strong", {}, h.name), state,
          ...h.tags.map((x) => badge(x, "host")), h.require_totp ? badge("TOTP", "warn") : null,
          el("span", { class: "spacer" }), probe),
        el("p", {}, el("code", {}, `${h.user}@${h.address}:${h.port}`),
          h.jump ? el("span", { class: "muted" }, ` ${t("via", { jump: h.jump })}`) : null),
        p && !p.ok ? el("p", { class: "error" }, p.detail) : null,
        p ? el("p", { class: "muted small" }, t("probed_at", { when: when(p.at) })) : null,
        el("p", { class: "muted small" }, t("pinned_keys")),
        h.pins.length ? el("ul", { class: "pins" }, h.pins.map((k) => el("li", {}, el("code", {}, k))))
          : el("p", { class: "error" }, t("no_pins")),
        h.checks.length ? table(["job", "last_run", "result"], h.checks.map((j) => [
          el("span", {}, j.what, el("br"), el("small", { class: "muted" }, j.schedule)),
          j.last_run_at ? when(j.last_run_at) : "—",
          j.last_result ? badge(j.last_result, j.last_result.startsWith("ok") ? "ok" : "bad") : "—"]), "no_jobs")
          : el("p", { class: "muted small" }, t("no_checks")));
    });
    section.replaceChildren(heading("page_hosts"),
      cards.length ? el("div", { class: "cards" }, cards) : el("p", { class: "empty" }, t("ssh_off")));
  }
  pages.hosts = { show: hosts };

  // --- audit ---------------------------------------------------------------------------------

  function audit(section) {
    const kind = el("input", { type: "search", placeholder: t("filter_kind"), "aria-label": t("filter_kind") });
    const actor = el("input", { type: "search", placeholder: t("filter_actor"), "aria-label": t("filter_actor") });
    const body = el("div", {});
    const more = el("button", { type: "button", class: "ghost small", hidden: true }, t("older"));
    const result = el("span", { class: "verify" });
    let before = null;
    async function load(append) {
      const q = new URLSearchParams({ kind: kind.value.trim(), actor: actor.value.trim() });
      if (append && before) q.set("before", before);
      const r = await api("GET", `/api/audit?${q}`);
      if (r.status !== 200) return;
      const records = r.data.records;
      if (records.length) before = records[records.length - 1].id;
      more.hidden = records.length < 100;
      const rows = records.map((a) => [String(a.id), when(a.at), el("code", {}, a.kind), a.actor,
        el("small", { class: "data" }, Object.entries(a.data).map(([k, v]) =>
          `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(" · "))]);
      const tb = table(["id", "time", "kind", "actor", "details"], rows, "no_records");
      if (append && tb.tagName === "TABLE" && body.querySelector("tbody")) body.querySelector("tbody").append(...tb.querySelector("tbody").children);
      else body.replaceChildren(tb);
    }
    const verify = el("button", { type: "button", class: "ghost", onclick: async () => {
      const r = await api("POST", "/api/audit/verify", {});
      result.replaceChildren(r.data.ok ? badge(t("chain_ok"), "ok") : badge(t("chain_broken", { n: (r.data.problems || []).length }), "bad"));
      load(false);
    } }, t("verify"));
    more.addEventListener("click", () => load(true));
    const filter = el("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); before = null; load(false); } },
      kind, actor, el("button", { type: "submit" }, t("filter")));
    section.replaceChildren(heading("page_audit", verify, result), filter, body, more);
    load(false);
  }
  pages.audit = { show: audit };

  // --- system --------------------------------------------------------------------------------

  // a small line chart of per-minute increases (or a ratio) as inline SVG
  function chart(samples, value) {
    const points = [];
    for (let i = 1; i < samples.length; i++) points.push(value(samples[i - 1], samples[i]));
    if (points.length < 2) return el("p", { class: "muted small" }, t("chart_wait"));
    const w = 240, h = 48, max = Math.max(...points, 1e-9);
    const xy = points.map((p, i) => `${(i * w / (points.length - 1)).toFixed(1)},${(h - 2 - p / max * (h - 4)).toFixed(1)}`);
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("preserveAspectRatio", "none");
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", `0,${h} ${xy.join(" ")} ${w},${h}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", xy.join(" "));
    svg.append(area, line);
    return svg;
  }

  async function system(section) {
    const r = await api("GET", "/api/system");
    if (r.status !== 200) return;
    const d = r.data, n = d.now, s = d.samples;
    const delta = (k) => (a, b) => Math.max(0, b[k] - a[k]);
    const latency = n.turns ? n.turn_seconds / n.turns : 0;
    const tile = (key, value, graph) => el("div", { class: "tile" }, el("span", { class: "muted" }, t(key)), el("strong", {}, value), graph);
    const components = Object.entries(d.components).map(([name, c]) => [
      name, badge(t("state_" + c.state), c.state === "ready" ? "ok" : c.state === "degraded" ? "warn" : "bad"),
      c.required ? t("yes") : t("no"), c.detail || "", ago(Date.now() / 1000 - c.since)]);
    const reload = el("button", { type: "button", class: "ghost", onclick: () => act("POST", "/api/system/reload", {}, null) }, t("reload"));
    const findings = el("div", { class: "doctor" });
    const doctor = el("button", { type: "button", class: "ghost", "data-doctor": "", onclick: async () => {
      doctor.disabled = true;
      findings.replaceChildren(el("p", { class: "muted" }, t("doctor_running")));
      const r = await api("POST", "/api/system/doctor", {});
      doctor.disabled = false;
      if (r.status !== 200) { findings.replaceChildren(el("p", { class: "error" }, r.data.error || t("failed"))); return; }
      const kind = { ok: "ok", warn: "warn", fail: "bad", skip: "" };
      findings.replaceChildren(table(["check", "state", "details"], r.data.checks.map((c) => [
        c.check, badge(t("doctor_" + c.status), kind[c.status]),
        el("span", {}, c.detail, c.fix ? el("br") : null, c.fix ? el("small", { class: "muted" }, c.fix) : null)]), "no_components"));
    } }, t("run_doctor"));
    section.replaceChildren(
      heading("page_system", badge(t(d.ready ? "ready" : "not_ready"), d.ready ? "ok" : "bad"), reload),
      el("div", { class: "tiles" },
        tile("messages", `${n.received} / ${n.answered}`, chart(s, delta("received"))),
        tile("latency", `${latency.toFixed(2)} s`, chart(s, (a, b) => (b.turns - a.turns ? (b.turn_seconds - a.turn_seconds) / (b.turns - a.turns) : 0))),
        tile("model_errors", String(n.model_errors), chart(s, delta("model_errors"))),
        tile("tokens_today", String(d.tokens_today), chart(s, delta("tokens")))),
      el("h2", {}, t("components")),
      table(["component", "state", "required", "details", "since"], components, "no_components"),
      el("div", { class: "heading" }, el("h2", {}, t("doctor")), doctor),
      findings,
      el("h2", {}, t("effective_config")),
      el("pre", { class: "config" }, d.config));
  }
  pages.system = { show: (s) => { system(s); every(30, () => system(s)); }, hide: stop };
})();
