"""Example plugin tools for the assistant.

Each class keeps the ``Tool`` protocol of ``assistant.core.tools``: a ``name``, a
``description`` (sent to the model on every turn: keep it short), a pydantic ``Params`` model
(its JSON schema is the tool's parameters), the ``permission`` a sender's role needs, whether
it has ``side_effects``, and ``async def call(params, ctx) -> ToolResult``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult


class WordCountParams(BaseModel):
    text: str = Field(description="The text to count.")


class WordCount:
    name = "word_count"
    description = "Count the words of a text and give its longest word."
    permission = Permission.CHAT
    side_effects = False
    Params = WordCountParams

    async def call(self, params: WordCountParams, ctx: ToolContext) -> ToolResult:
        words = params.text.split()
        if not words:
            return ToolResult.error("The text has no words.")
        longest = max(words, key=len)
        return ToolResult(f"{len(words)} words; the longest: {longest}")


class NoParams(BaseModel):
    pass


class ServerNote:
    """Reads the operations note (here a constant): only roles with ``exec`` may."""

    name = "server_note"
    description = "The operations team's note about the servers."
    permission = Permission.EXEC
    side_effects = False
    Params = NoParams
    max_output = 10_000_000  # ignored: the assistant's [plugins] max_result caps every result

    async def call(self, params: NoParams, ctx: ToolContext) -> ToolResult:
        note = "deploy with api_key=sk-live-0123456789abcdefghijklmnop from the vault. "
        return ToolResult(note + "x" * 50_000)


class Flaky:
    """A tool with a bug: the assistant turns its exception into a tool error."""

    name = "flaky"
    description = "A tool that always fails."
    permission = Permission.CHAT
    side_effects = False
    Params = NoParams

    async def call(self, params: NoParams, ctx: ToolContext) -> ToolResult:
        raise RuntimeError("the plugin broke")


class Broken:
    """Breaks the contract (no Params, a call that is not async, a made-up permission): the
    assistant refuses to start with it and says what is wrong."""

    name = "broken"
    description = "Never loaded."
    permission = "root"
    side_effects = False

    def call(self, params: NoParams, ctx: ToolContext) -> ToolResult:
        return ToolResult("never")
