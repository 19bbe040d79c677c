"""/remember, /memory and /forget: long-term memory without the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.core.commands import Command, CommandCall
from assistant.core.errors import MemoryUnavailable
from assistant.core.i18n import N_, tr
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
                N_("keep a fact for later conversations"),
                Permission.MEMORY,
                self.remember,
                usage="/remember TEXT",
            ),
            Command(
                "memory",
                N_("list what I remember here, or search it"),
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
        summary = tr(" · summary") if record.source == "summary" else ""
        return f"{record.id} — {text} ({day}{summary}{score})"

    async def remember(self, call: CommandCall) -> str:
        if not call.args:
            return tr("Usage: /remember TEXT — e.g. /remember my wife's birthday is March 3")
        try:
            record, merged = await self._memory.remember(
                call.message.chat, call.message.sender, call.args
            )
        except MemoryUnavailable as exc:
            return tr("Memory is unavailable: {error}").format(error=exc)
        if merged:
            return tr("Updated a similar memory ({id}) with this.").format(id=record.id)
        return tr("I'll remember that ({id}). /forget {id} deletes it.").format(id=record.id)

    async def memory(self, call: CommandCall) -> str:
        chat, sender = call.message.chat, call.message.sender
        try:
            if call.args:
                found = await self._memory.search(chat, sender, call.args, 10)
                head = tr("Memories matching «{query}» (id — text (date · similarity)):").format(
                    query=call.args
                )
            else:
                found = await self._memory.recent(chat, sender, _SHOWN)
                head = tr("What I remember here, newest first (/forget ID deletes one):")
        except MemoryUnavailable as exc:
            return tr("Memory is unavailable: {error}").format(error=exc)
        if not found:
            return tr("I don't remember anything here yet. /remember TEXT keeps a fact.")
        return "\n".join([head, *(self._line(r) for r in found)])

    async def forget(self, call: CommandCall) -> str:
        memory_id = call.args.strip().strip("[]")
        if not memory_id:
            return tr("Usage: /forget ID — /memory lists the ids.")
        try:
            gone = await self._memory.forget(call.message.chat, call.message.sender, memory_id)
        except MemoryUnavailable as exc:
            return tr("Memory is unavailable: {error}").format(error=exc)
        if gone is None:
            return tr("There is no memory {id!r} here; /memory lists them.").format(id=memory_id)
        return tr("Forgot: {text}").format(text=gone.text)
