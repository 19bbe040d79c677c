"""A tiny MCP server written with the official SDK, for the MCP feature's tests.

``python -m tests.fakes.mcp_server stdio`` (or ``http PORT``). Tools: ``add`` (read),
``leak`` (returns a secret, for redaction), ``touch`` (writes a marker file named by
``MCP_MARKER``: a side effect an approval must guard), ``grow`` (adds ``late`` and announces
it), ``crash`` (the process dies), and ``extra`` listed whenever the file named by
``MCP_EXTRA`` exists (a changed list nobody announced: a reload picks it up). A resource
``note://ops`` holds a secret. ``MCP_LEGACY=1``: the server speaks only the handshake-era
protocol (no ``server/discover``), so a change is announced by
``notifications/tools/list_changed``. Over HTTP, a request without the header
``Authorization: Bearer $MCP_TOKEN`` (when set) is refused with 401. Each start appends a line
to the file named by ``MCP_STARTS`` (when set).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer


class Tiny(MCPServer):
    async def list_tools(self):  # type: ignore[no-untyped-def]
        wanted = os.environ.get("MCP_EXTRA") and Path(os.environ["MCP_EXTRA"]).exists()
        if wanted and "extra" not in {t.name for t in await super().list_tools()}:
            self.add_tool(lambda: "extra!", name="extra", description="A tool that came later.")
        return await super().list_tools()


server = Tiny("tiny")
if os.environ.get("MCP_STARTS"):
    with Path(os.environ["MCP_STARTS"]).open("a") as starts:
        starts.write(f"{os.getpid()}\n")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def leak() -> str:
    """Return a configuration line."""
    return "api_key=sk-live-0123456789abcdefghijklmnop and more"


@server.tool()
def touch(text: str) -> str:
    """Write text to the marker file."""
    Path(os.environ["MCP_MARKER"]).write_text(text)
    return "written"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool late and announce the change."""
    server.add_tool(lambda: "late!", name="late", description="A tool added while running.")
    if os.environ.get("MCP_LEGACY"):
        await ctx.session.send_tool_list_changed()
    else:
        await ctx.notify_tools_changed()
    return "grown"


@server.resource("note://ops", name="ops-note", description="The operations note.")
def ops_note() -> str:
    return "rotate the key api_key=sk-live-0123456789abcdefghijklmnop on Friday"


@server.tool()
def crash() -> str:
    """Stop the server at once."""
    os._exit(3)


def _search(query: str, state: str = "open", limit: int = 20) -> str:
    return f"{limit} {state} results for {query}"


# MCP_MANY=N: N more tools shaped like a real tracker's (a description of two sentences and
# three parameters), for the prompt budget
for _n in range(int(os.environ.get("MCP_MANY", "0"))):
    server.add_tool(
        _search,
        name=f"search_{_n:02d}",
        description=(
            f"Search collection {_n} by text, state and label. Returns up to `limit` matches "
            "with their id, title, state and the time they last changed."
        ),
    )


def serve_http(port: int) -> None:
    import uvicorn
    from starlette.responses import PlainTextResponse

    app = server.streamable_http_app(host="127.0.0.1")
    token = os.environ.get("MCP_TOKEN")

    async def checked(scope, receive, send):  # type: ignore[no-untyped-def]
        headers = dict(scope.get("headers") or [])
        if (
            scope["type"] == "http"
            and token
            and headers.get(b"authorization") != (f"Bearer {token}".encode())
        ):
            await PlainTextResponse("no", status_code=401)(scope, receive, send)
            return
        await app(scope, receive, send)

    uvicorn.run(checked, host="127.0.0.1", port=port, log_level="warning")


async def serve_legacy_stdio() -> None:
    """What a server written before MCP 2026-07-28 does: the handshake era only."""
    from mcp.server.runner import _serve_legacy_stream
    from mcp.server.stdio import stdio_server

    low = server._lowlevel_server
    async with stdio_server() as (read, write), low.lifespan(low) as state:
        await _serve_legacy_stream(
            low,
            read,
            write,
            lifespan_state=state,
            session_id=None,
            init_options=low.create_initialization_options(),
            raise_exceptions=False,
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        serve_http(int(sys.argv[2]))
    elif os.environ.get("MCP_LEGACY"):
        import anyio

        anyio.run(serve_legacy_stdio)
    else:
        server.run("stdio")
