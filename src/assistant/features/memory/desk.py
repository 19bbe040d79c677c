"""Long-term memory as the web console browses it (``core.ports.MemoryDesk``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.messages import ChatRef, Sender
from assistant.core.ports import MemoryItem

if TYPE_CHECKING:
    from assistant.memory.service import MemoryService
    from assistant.memory.store import MemoryRecord


def _item(record: MemoryRecord) -> MemoryItem:
    return MemoryItem(
        id=record.id,
        space=record.namespace,
        text=record.text,
        owner=f"{record.channel}:{record.owner}",
        created=record.created,
        source=record.source,
        score=record.score,
    )


class MemoryDesk:
    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    def own_space(self, channel: str, user_id: str) -> str:
        return self._memory.write_namespace(ChatRef(channel, user_id), Sender(user_id))

    async def memory_spaces(self) -> list[str]:
        return sorted(await self._memory.namespaces())

    async def list_memories(
        self, spaces: list[str] | None, query: str, limit: int
    ) -> list[MemoryItem]:
        if query:
            found = await self._memory.search_in(query, spaces, k=limit)
        else:
            found = (await self._memory.records(spaces))[:limit]
        return [_item(r) for r in found]

    async def forget_memory(self, spaces: list[str] | None, memory_id: str) -> bool:
        return await self._memory.forget_in(memory_id, spaces) is not None
