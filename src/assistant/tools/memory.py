"""Tools over long-term memory: remember, recall, forget. Each sees only what the sender may
(their own memories in a private chat, the group's in a group)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from assistant.core.errors import MemoryUnavailable, ToolError
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult
from assistant.memory.service import MemoryService
from assistant.memory.store import MemoryRecord


def describe(record: MemoryRecord, ctx: ToolContext) -> str:
    day = datetime.fromtimestamp(record.created, ctx.timezone).strftime("%Y-%m-%d")
    score = f" ({record.score:.2f})" if record.score is not None else ""
    return f"[{record.id}]{score} {record.text} ({day})"


class RememberParams(BaseModel):
    text: str = Field(min_length=1, max_length=2000)  # one self-contained fact


class RememberTool:
    name = "remember"
    description = "Keep a self-contained fact the user asks you to remember."
    permission = Permission.MEMORY
    side_effects = False  # storing twice merges into one memory
    Params = RememberParams

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    async def call(self, params: RememberParams, ctx: ToolContext) -> ToolResult:
        try:
            record, merged = await self._memory.remember(ctx.chat, ctx.sender, params.text)
        except MemoryUnavailable as exc:
            raise ToolError(f"Memory is unavailable: {exc}") from None
        verb = "Updated the similar memory" if merged else "Saved as memory"
        return ToolResult(f"{verb} [{record.id}].")


class RecallParams(BaseModel):
    query: str = Field(min_length=1, max_length=500)


class RecallTool:
    name = "recall"
    description = "Search saved memories."
    permission = Permission.MEMORY
    side_effects = False
    Params = RecallParams

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    async def call(self, params: RecallParams, ctx: ToolContext) -> ToolResult:
        try:
            found = await self._memory.search(ctx.chat, ctx.sender, params.query, 8)
        except MemoryUnavailable as exc:
            raise ToolError(f"Memory is unavailable: {exc}") from None
        if not found:
            return ToolResult("No memories are saved here yet.")
        return ToolResult("\n".join(describe(r, ctx) for r in found))


class ForgetParams(BaseModel):
    id: str | None = None  # preferred: the id recall shows
    query: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ForgetParams:
        if not self.id and not self.query:
            raise ValueError("give id or query")
        return self


class ForgetTool:
    name = "forget"
    description = "Delete a memory by id (from recall) or by description."
    permission = Permission.MEMORY
    side_effects = True
    Params = ForgetParams

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    async def call(self, params: ForgetParams, ctx: ToolContext) -> ToolResult:
        try:
            if params.id:
                gone = await self._memory.forget(
                    ctx.chat, ctx.sender, params.id.strip().strip("[]")
                )
            else:
                gone = await self._memory.forget_matching(ctx.chat, ctx.sender, params.query or "")
        except MemoryUnavailable as exc:
            raise ToolError(f"Memory is unavailable: {exc}") from None
        if gone is None:
            raise ToolError("No such memory here; use recall to find its id.")
        return ToolResult(f"Forgot [{gone.id}] {gone.text}")
