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
    "/console/app.css": ("app.css", "text/css"),
}
STRINGS = {
    "token_label": N_("Console token"),
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
