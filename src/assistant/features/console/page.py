"""The web console's page: static files from the package (no build step, nothing from a CDN,
no inline script) and its words from the catalogs, in the browser's language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from assistant.core import i18n
from assistant.core.i18n import N_, tr
from assistant.features.console.auth import SECURITY_HEADERS

WEB = Path(__file__).with_name("web")
FILES = {
    "/console": ("index.html", "text/html"),
    "/console/app.js": ("app.js", "text/javascript"),
    "/console/pages.js": ("pages.js", "text/javascript"),
    "/console/app.css": ("app.css", "text/css"),
}
STRINGS = {
    "token_label": N_("Console token"),
    "login_title": N_("Log in to the console"),
    "login": N_("Log in"),
    "logout": N_("Log out"),
    "send": N_("Send"),
    "placeholder": N_("Write a message or a /command (Enter sends, Shift+Enter: new line)"),
    "connecting": N_("connecting…"),
    "online": N_("connected"),
    "offline": N_("disconnected; reconnecting…"),
    "working": N_("working…"),
    "wrong_token": N_("That token is wrong or was revoked."),
    "too_many": N_("Too many failed logins; try again in a minute."),
    "failed": N_("That did not work; try again."),
    "signed_in_as": N_("{person} ({role})"),
    "older": N_("Older"),
    "page_chat": N_("Chat"),
    "page_approvals": N_("Approvals"),
    "page_people": N_("People"),
    "page_jobs": N_("Jobs"),
    "page_audit": N_("Audit"),
    "page_system": N_("System"),
    "role_owner": N_("owner"),
    "role_admin": N_("admin"),
    "role_user": N_("user"),
    "role_guest": N_("guest"),
    "n_s": N_("{n} s"),
    "n_min": N_("{n} min"),
    "n_h": N_("{n} h"),
    "n_d": N_("{n} d"),
    "done": N_("Done."),
    "yes": N_("yes"),
    "no": N_("no"),
    "approve": N_("Approve"),
    "deny": N_("Deny"),
    "withdraw": N_("Withdraw"),
    "reject": N_("Reject"),
    "totp_placeholder": N_("TOTP code"),
    "decision_sent": N_("Sent; the answer is in your chat."),
    "asked_ago": N_("asked {age} ago"),
    "expires_in": N_("expires in {left}"),
    "requested_by": N_("Requested by {name} ({account})"),
    "no_approvals": N_("No requests are waiting for approval."),
    "pairing_requests": N_("Pairing requests"),
    "people_roles": N_("People and roles"),
    "console_tokens": N_("Console tokens"),
    "who": N_("Who"),
    "code": N_("Code"),
    "waiting": N_("Waiting"),
    "decision": N_("Decision"),
    "account": N_("Account"),
    "col_name": N_("Name"),
    "role": N_("Role"),
    "granted_by": N_("Granted by"),
    "created": N_("Created"),
    "last_used": N_("Last used"),
    "no_pairing": N_("No pairing requests are waiting."),
    "no_people": N_("Nobody has a role yet."),
    "no_tokens": N_("No per-person tokens yet."),
    "revoke": N_("Revoke"),
    "revoke_confirm": N_("Revoke the token of {name}? Their sessions end now."),
    "token_name": N_("name (e.g. ann)"),
    "create_token": N_("Create token"),
    "token_once": N_("The token for {name}, shown only this once:"),
    "scheduler_off": N_("The scheduler is off ([scheduler] enabled = false)."),
    "id": N_("ID"),
    "job": N_("Job"),
    "next_run": N_("Next run"),
    "last_run": N_("Last run (runs)"),
    "result": N_("Result"),
    "owner": N_("Created by"),
    "run_now": N_("Run now"),
    "cancel": N_("Cancel"),
    "no_jobs": N_("No scheduled jobs."),
    "filter_kind": N_("kind (e.g. approval.)"),
    "filter_actor": N_("actor (e.g. telegram:)"),
    "filter": N_("Filter"),
    "verify": N_("Verify the chain"),
    "chain_ok": N_("chain intact"),
    "chain_broken": N_("chain broken: {n} problems"),
    "time": N_("Time"),
    "kind": N_("Kind"),
    "actor": N_("Actor"),
    "details": N_("Details"),
    "no_records": N_("No audit records match."),
    "ready": N_("ready"),
    "not_ready": N_("not ready"),
    "reload": N_("Reload config"),
    "messages": N_("Messages in / answered"),
    "latency": N_("Average turn time"),
    "model_errors": N_("Model errors"),
    "tokens_today": N_("Tokens today"),
    "chart_wait": N_("The chart fills in a minute at a time."),
    "components": N_("Components"),
    "component": N_("Component"),
    "state": N_("State"),
    "required": N_("Required"),
    "since": N_("Since"),
    "no_components": N_("No components."),
    "effective_config": N_("Effective config (secrets masked)"),
    "state_starting": N_("starting"),
    "state_ready": N_("ready"),
    "state_degraded": N_("degraded"),
    "state_down": N_("down"),
    "state_failed": N_("failed"),
    "state_stopped": N_("stopped"),
    "page_memory": N_("Memory"),
    "memory_search": N_("search (empty: newest first)"),
    "memory_space": N_("Whose"),
    "memory_everyone": N_("everyone's"),
    "memory_mine": N_("mine"),
    "memory_off": N_("Memory is off ([memory] enabled = false)."),
    "memory": N_("Memory"),
    "forget": N_("Forget"),
    "search": N_("Search"),
    "no_memories": N_("No memories here."),
    "page_hosts": N_("Hosts"),
    "ssh_off": N_("No SSH hosts are configured ([[ssh.hosts]])."),
    "reachable": N_("reachable ({ms} ms)"),
    "unreachable": N_("unreachable"),
    "not_probed": N_("not probed yet"),
    "probe": N_("Check now"),
    "via": N_("via {jump}"),
    "probed_at": N_("checked {when}"),
    "pinned_keys": N_("Pinned host keys"),
    "no_pins": N_("No host key pinned: commands are refused until one is (assistant ssh trust)."),
    "no_checks": N_("No monitoring checks run on this host."),
    "attach": N_("Attach"),
    "attach_title": N_("Attach files or pictures"),
    "remove": N_("Remove"),
    "pause": N_("Pause"),
    "resume": N_("Resume"),
    "paused": N_("paused"),
    "doctor": N_("Doctor"),
    "run_doctor": N_("Run the doctor"),
    "doctor_running": N_("Running the checks…"),
    "check": N_("Check"),
    "doctor_ok": N_("ok"),
    "doctor_warn": N_("warning"),
    "doctor_fail": N_("failed"),
    "doctor_skip": N_("skipped"),
    "token_hint": N_(
        "The owner's token is ASSISTANT_CONSOLE_TOKEN in /etc/assistant/assistant.env; "
        "others get theirs from assistant users token create."
    ),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def routes(name: Callable[[], str]) -> list[tuple[str, str, Handler]]:
    """The page's routes; ``name`` is the assistant's name (shown as the title)."""
    cache: dict[str, bytes] = {}

    def static(path: str) -> Handler:
        file, kind = FILES[path]

        async def serve(request: web.Request) -> web.StreamResponse:
            body = cache.get(file)
            if body is None:
                body = cache[file] = (WEB / file).read_bytes()
            headers = {**SECURITY_HEADERS, "Content-Type": f"{kind}; charset=utf-8"}
            return web.Response(body=body, headers=headers)

        return serve

    async def strings(request: web.Request) -> web.StreamResponse:
        locale = i18n.accept_language(request.headers.get("Accept-Language"))
        with i18n.using(locale) as lang:
            words = {key: tr(text) for key, text in STRINGS.items()}
        words["name"], words["lang"] = name(), lang.replace("_", "-")
        return web.json_response(words, headers=SECURITY_HEADERS)

    async def home(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console")

    return [
        *(("GET", path, static(path)) for path in FILES),
        ("GET", "/console/strings.json", strings),
        ("GET", "/", home),
    ]
