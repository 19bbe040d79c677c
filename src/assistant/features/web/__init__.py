"""Web: ``http_request``, ``web_fetch`` and (with ``[web] searxng_url``) ``web_search``, all
through one SSRF-guarded HTTP client (``guard``, ``client``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.feature import APPROVER, Feature, Reloaded, changed_keys

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.config.web import WebSection
    from assistant.kernel import Context
    from assistant.net.guard import AddressPolicy

NAME = "web"


def enabled(config: Config) -> bool:
    return config.web.enabled


def policy_of(section: WebSection) -> AddressPolicy:
    """The addresses the config opens beyond the public internet; the SearXNG instance is
    named by the config, so it is allowed by name."""
    from yarl import URL

    from assistant.net.guard import AddressPolicy

    hosts = list(section.allow_hosts)
    if section.searxng_url:
        hosts.append(URL(section.searxng_url).host or "")
    return AddressPolicy.of(hosts, section.allow_networks)


async def setup(ctx: Context) -> Feature:
    from assistant.features.web.tools import HttpRequestTool, WebFetchTool, WebSearchTool
    from assistant.net.client import WebClient
    from assistant.net.tls import trust

    live = ctx.live
    section = live.current.web
    client = await ctx.stack.enter_async_context(
        WebClient(
            policy_of(section),
            timeout=section.timeout,
            max_redirects=section.max_redirects,
            max_download=section.max_download,
            user_agent=section.user_agent,
            resolver=ctx.options.get("web.resolver"),  # a test's fake DNS
            ssl_context=trust(section.ca_file) if section.ca_file else None,
        )
    )

    def current() -> WebSection:
        return live.current.web

    tools: list[object] = [
        HttpRequestTool(client, current, lambda: ctx.ports.get(APPROVER), ctx.audit),
        WebFetchTool(client, current),
    ]
    if section.searxng_url:
        tools.append(WebSearchTool(client, current))

    async def reload(old: Config, new: Config) -> Reloaded:
        client.guard.policy = policy_of(new.web)
        client.timeout = new.web.timeout
        client.max_redirects = new.web.max_redirects
        client.max_download = new.web.max_download
        restart = ("web.searxng_url", "web.ca_file")
        applied = [k for k in changed_keys(old.web, new.web, "web") if k not in restart]
        return Reloaded(tuple(applied))

    return Feature(NAME, tools=tools, reload=reload, parts={"client": client})  # type: ignore[arg-type]
