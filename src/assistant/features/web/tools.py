"""The web tools: ``http_request``, ``web_fetch`` and (with a SearXNG URL) ``web_search``.

GET and HEAD need ``web.read``; any other method is a write: it runs only when a
``[[web.allow]]`` rule names it (method and URL glob), else a second person approves it like
a command. Everything goes through the guarded client (``client.WebClient``); what the
model gets passes the secret redactor (in the tool registry) and is capped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, Field
from yarl import URL

from assistant.config.web import WebSection
from assistant.core.errors import ToolError
from assistant.core.ports import Approver
from assistant.core.redact import MASK, Redactor, is_secret_key
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from assistant.features.web.extract import readable
from assistant.net.client import WebClient
from assistant.store.audit import AuditLog
from assistant.tools.ask import ask
from assistant.tools.registry import truncate_middle

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_READS = frozenset({"GET", "HEAD"})
# headers by which many servers take a request as another method: a GET with one is a write
_OVERRIDES = frozenset({"x-http-method-override", "x-http-method", "x-method-override"})


class RequestParams(BaseModel):
    method: Method = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None


class FetchParams(BaseModel):
    url: str


class SearchParams(BaseModel):
    query: str = Field(min_length=1)


_PATTERNS_ONLY = Redactor()  # credential-shaped values (a bearer token, password=…) in a request


def whole_request(params: RequestParams) -> str:
    """What an approver of a write reads: the method and URL, every header and the whole
    body, which is what the write does; credentials in them masked (the approver is another
    person): a header named like one, and whatever the redactor's patterns find."""
    lines = [f"{params.method} {params.url}"]
    for name, value in params.headers.items():
        lines.append(f"{name}: {MASK if is_secret_key(name) else value}")
    if params.body:
        lines += ["", params.body]
    return _PATTERNS_ONLY.text("\n".join(lines))


def allowed_write(section: WebSection, method: str, url: str) -> bool:
    """Whether a rule lets this write go without approval. Judged on the URL as it is sent
    (``/deploy/../admin`` is sent as ``/admin``), and never for a path that still holds a dot
    segment or an encoded slash or backslash a server may resolve after the match."""
    try:
        sent = URL(url)
    except ValueError:
        return False
    raw = sent.raw_path.lower()
    if "%2f" in raw or "%5c" in raw or "\\" in sent.path or ".." in sent.path.split("/"):
        return False
    shown = str(sent)
    return any(
        (rule.method in ("*", method)) and fnmatchcase(shown, rule.url) for rule in section.allow
    )


class HttpRequestTool:
    name = "http_request"
    description = "HTTP request: status, headers, body. Writes may need approval."
    permission = Permission.WEB_READ
    side_effects = False  # a write marks itself before it is sent
    Params = RequestParams

    def __init__(
        self,
        client: WebClient,
        section: Callable[[], WebSection],
        approver: Callable[[], Approver | None],
        audit: AuditLog,
    ) -> None:
        self._client = client
        self._section = section
        self._approver = approver
        self._audit = audit
        self.max_output = section().max_body + 2000

    async def call(self, params: RequestParams, ctx: ToolContext) -> ToolResult:
        section = self._section()
        method = params.method
        what = f"{method} {params.url}"
        overridden = any(name.lower() in _OVERRIDES for name in params.headers)
        if method not in _READS or overridden:
            if allowed_write(section, method, params.url):
                await self._audit.append("web.allowed", ctx.actor, command=what)
            else:
                refusal = await ask(
                    self._approver(),
                    self._audit,
                    ctx,
                    target="web",
                    what=whole_request(params),
                    reason=f"{method} changes things and no [[web.allow]] rule names it",
                )
                if refusal is not None:
                    return ToolResult.error(refusal)
            await ctx.mark_side_effect(self.name)
        fetched = await self._client.fetch(
            method, params.url, headers=params.headers, body=params.body
        )
        await self._audit.append(
            "web.request", ctx.actor, command=what, status=fetched.status, bytes=len(fetched.body)
        )
        head = f"HTTP {fetched.status} {fetched.reason}\nURL: {fetched.url}\n"
        head += "\n".join(f"{k}: {v}" for k, v in fetched.headers if k.lower() != "set-cookie")
        text = fetched.text()
        if fetched.truncated:
            text += f"\n[… cut at {len(fetched.body)} bytes …]"
        body = truncate_middle(text, section.max_body)
        self.max_output = section.max_body + len(head) + 100
        return ToolResult(f"{head}\n\n{body}" if body else head, is_error=fetched.status >= 400)


class WebFetchTool:
    name = "web_fetch"
    description = "A web page's main text, with numbered links."
    permission = Permission.WEB_READ
    side_effects = False
    Params = FetchParams

    def __init__(self, client: WebClient, section: Callable[[], WebSection]) -> None:
        self._client = client
        self._section = section
        self.max_output = section().max_body

    async def call(self, params: FetchParams, ctx: ToolContext) -> ToolResult:
        section = self._section()
        self.max_output = section.max_body
        fetched = await self._client.fetch(
            "GET", params.url, headers={"Accept": "text/html,text/plain;q=0.9,*/*;q=0.5"}
        )
        if fetched.status >= 400:
            return ToolResult.error(f"HTTP {fetched.status} {fetched.reason} from {fetched.url}")
        kind = fetched.content_type.split(";")[0].strip().lower()
        if kind and "html" not in kind and not kind.startswith("text/") and "json" not in kind:
            return ToolResult.error(f"{fetched.url} is {kind}, not a page this tool can read")
        if "html" in kind or not kind:
            page = await asyncio.to_thread(readable, fetched.text(), fetched.url)
            text = page.markdown()
        else:
            text = fetched.text()
        return ToolResult(truncate_middle(f"URL: {fetched.url}\n\n{text}", section.max_body))


class WebSearchTool:
    name = "web_search"
    description = "Web search: titles, URLs, snippets."
    permission = Permission.WEB_READ
    side_effects = False
    Params = SearchParams

    def __init__(self, client: WebClient, section: Callable[[], WebSection]) -> None:
        self._client = client
        self._section = section

    async def call(self, params: SearchParams, ctx: ToolContext) -> ToolResult:
        base = self._section().searxng_url
        if base is None:
            raise ToolError("web search is not configured ([web] searxng_url)")
        url = URL(base + "/search").with_query(q=params.query, format="json")
        fetched = await self._client.fetch("GET", str(url), headers={"Accept": "application/json"})
        if fetched.status >= 400:
            return ToolResult.error(f"the search answered HTTP {fetched.status}")
        try:
            results = json.loads(fetched.text()).get("results", [])
        except (ValueError, AttributeError):
            return ToolResult.error("the search did not answer JSON (is format=json enabled?)")
        lines = [
            f"{i}. {r.get('title', '')}\n   {r.get('url', '')}\n   {r.get('content', '')[:300]}"
            for i, r in enumerate(results[:8], 1)
            if isinstance(r, dict)
        ]
        return ToolResult("\n".join(lines) or "no results")
