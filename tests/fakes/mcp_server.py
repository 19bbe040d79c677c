"""A tiny MCP server written with the official SDK, for the MCP feature's tests.

``python -m tests.fakes.mcp_server stdio`` (or ``http PORT``). Tools: ``add`` (read),
``leak`` (returns a secret, for redaction), ``touch`` (writes a marker file named by
``MCP_MARKER``: a side effect an approval must guard), ``grow`` (adds ``late`` and announces it), ``crash`` (the process dies), and
``extra`` only when the file named by ``MCP_EXTRA`` exists at start (a reload adds a tool).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("tiny")


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
    await ctx.notify_tools_changed()
    return "grown"


@server.tool()
def crash() -> str:
    """Stop the server at once."""
    os._exit(3)


if os.environ.get("MCP_EXTRA") and Path(os.environ["MCP_EXTRA"]).exists():

    @server.tool()
    def extra() -> str:
        """A tool that came later."""
        return "extra!"


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


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
