"""/remember, /memory and /forget: long-term memory without the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.core.commands import Command, CommandCall
from assistant.core.errors import MemoryUnavailable
from assistant.core.roles import Permission
from assistant.memory.service import MemoryService
from assistant.memory.store import MemoryRecord

_SHOWN = 20
_TEXT_CHARS = 200


class MemoryCommands:
    def __init__(self, *, memory: MemoryService, timezone: Callable[[], str]) -> None:
        self._memory = memory
        self._timezone = timezone

    def commands(self) -> list[Command]:
        return [
            Command(
                "remember",
                "keep a fact for later conversations",
                Permission.MEMORY,
                self.remember,
                usage="/remember TEXT",
            ),
            Command(
                "memory",
                "list what I remember here, or search it",
                Permission.MEMORY,
                self.memory,
                usage="/memory [query]",
            ),
            Command(
                "forget", "delete a memory", Permission.MEMORY, self.forget, usage="/forget ID"
            ),
        ]

    def _line(self, record: MemoryRecord) -> str:
        day = datetime.fromtimestamp(record.created, ZoneInfo(self._timezone())).strftime(
            "%Y-%m-%d"
        )
        text = record.text if len(record.text) <= _TEXT_CHARS else record.text[:_TEXT_CHARS] + "…"
        score = f" · {record.score:.2f}" if record.score is not None else ""
        summary = " · summary" if record.source == "summary" else ""
        return f"{record.id} — {text} ({day}{summary}{score})"

    async def remember(self, call: CommandCall) -> str:
        if not call.args:
            return "Usage: /remember TEXT — e.g. /remember my wife's birthday is March 3"
        try:
            record, merged = await self._memory.remember(
                call.message.chat, call.message.sender, call.args
            )
        except MemoryUnavailable as exc:
            return f"Memory is unavailable: {exc}"
        if merged:
            return f"Updated a similar memory ({record.id}) with this."
        return f"I'll remember that ({record.id}). /forget {record.id} deletes it."

    async def memory(self, call: CommandCall) -> str:
        chat, sender = call.message.chat, call.message.sender
        try:
            if call.args:
                found = await self._memory.search(chat, sender, call.args, 10)
                head = f"Memories matching «{call.args}» (id — text (date · similarity)):"
            else:
                found = await self._memory.recent(chat, sender, _SHOWN)
                head = "What I remember here, newest first (/forget ID deletes one):"
        except MemoryUnavailable as exc:
            return f"Memory is unavailable: {exc}"
        if not found:
            return "I don't remember anything here yet. /remember TEXT keeps a fact."
        return "\n".join([head, *(self._line(r) for r in found)])

    async def forget(self, call: CommandCall) -> str:
        memory_id = call.args.strip().strip("[]")
        if not memory_id:
            return "Usage: /forget ID — /memory lists the ids."
        try:
            gone = await self._memory.forget(call.message.chat, call.message.sender, memory_id)
        except MemoryUnavailable as exc:
            return f"Memory is unavailable: {exc}"
        if gone is None:
            return f"There is no memory {memory_id!r} here; /memory lists them."
        return f"Forgot: {gone.text}"
