"""One reply's delivery record, as the channel sends its parts (a ``core.ports.PartSink``).

It mirrors the rows of the delivery log for one inbox entry and writes each change through at
once: a part acknowledged but not recorded would be sent again after a restart, so a write the
state database refuses (disk full) is retried until it succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog

from assistant.core.backoff import Backoff
from assistant.core.errors import StateError
from assistant.core.messages import ChatRef, SentMessage
from assistant.store.deliveries import DeliveryLog, PartRecord, PartState

log = structlog.get_logger(__name__)

_RETRY_CAP = 15.0


async def persist(write: Callable[[], Awaitable[None]], what: str) -> None:
    """Run ``write`` until the state database takes it."""
    backoff = Backoff(0.5, _RETRY_CAP)
    while True:
        try:
            await write()
            return
        except StateError as exc:
            delay = backoff.next_delay()
            log.error(what, error=str(exc), retry_in=round(delay, 1))
            await asyncio.sleep(delay)


class ReplyLog:
    def __init__(
        self,
        store: DeliveryLog,
        inbox_id: int,
        chat: ChatRef,
        records: Mapping[int, PartRecord] | None = None,
    ) -> None:
        self.inbox_id = inbox_id
        self._store = store
        self._chat = chat
        self._records: dict[int, PartRecord] = dict(records or {})
        self.finished = False  # the last part was acknowledged, and the entry marked done
        # the reply carries files (stored with it, dropped when it is done); Delivery sets it
        self.files = True

    @property
    def preview(self) -> SentMessage | None:
        """The streamed message on screen that the final text is to replace, if any."""
        record = self._records.get(0)
        if record is None or record.state is not PartState.PREVIEW or not record.message_id:
            return None
        return SentMessage(self._chat, record.message_id)

    def in_flight(self) -> list[int]:
        """Parts whose send had begun but was never acknowledged (a crash came between)."""
        return sorted(i for i, r in self._records.items() if r.state is PartState.SENDING)

    def reaches(self, index: int) -> bool:
        """Whether a part at ``index`` or later was recorded."""
        return any(i >= index for i in self._records)

    def forget(self) -> None:
        """A new reply text was stored: keep only the preview (see ``forget_parts``)."""
        self._records = {i: r for i, r in self._records.items() if r.state is PartState.PREVIEW}
        self.finished = False

    # --- PartSink ---------------------------------------------------------------------------

    def delivered(self, index: int) -> SentMessage | None:
        record = self._records.get(index)
        if record is None or record.state is not PartState.SENT or record.message_id is None:
            return None
        return SentMessage(self._chat, record.message_id)

    async def sending(self, index: int, *, of: int) -> None:
        self._records[index] = PartRecord(index, PartState.SENDING, None)
        await persist(lambda: self._store.sending(self.inbox_id, index), "delivery.record_failed")

    async def sent(self, index: int, message: SentMessage, *, of: int) -> None:
        self._records[index] = PartRecord(index, PartState.SENT, message.message_id)
        last = index >= of - 1
        await persist(
            lambda: self._store.sent(
                self.inbox_id, index, message.message_id, done=last, files=self.files
            ),
            "delivery.record_failed",
        )
        self.finished = last

    # --- streaming --------------------------------------------------------------------------

    async def shown(self, message: SentMessage) -> None:
        """The first preview of a streamed reply is on screen as ``message``."""
        self._records[0] = PartRecord(0, PartState.PREVIEW, message.message_id)
        await persist(
            lambda: self._store.preview(self.inbox_id, message.message_id),
            "delivery.record_failed",
        )


class ShiftedParts:
    """A streamed reply's files in its delivery log: file ``i`` is part ``offset + i``, and
    none of them is the last part (the text, edited into the preview, is)."""

    def __init__(self, record: ReplyLog, offset: int) -> None:
        self._record = record
        self._offset = offset

    def delivered(self, index: int) -> SentMessage | None:
        return self._record.delivered(self._offset + index)

    async def sending(self, index: int, *, of: int) -> None:
        await self._record.sending(self._offset + index, of=self._offset + of + 1)

    async def sent(self, index: int, message: SentMessage, *, of: int) -> None:
        await self._record.sent(self._offset + index, message, of=self._offset + of + 1)
