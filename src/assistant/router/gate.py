"""The gate: who may talk, and what everyone else gets.

Private chats: a known user gets their role; a stranger gets a pairing code and nothing else.
Groups: only allowlisted groups are answered; inside one, a member without a role of their own
gets ``[access] group_members`` (guest by default). A stranger's button press is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from assistant.config import Config
from assistant.core.bounded import BoundedDict
from assistant.core.errors import ChannelError
from assistant.core.i18n import N_, tr
from assistant.core.messages import InboundMessage, MessageKind, OutboundMessage
from assistant.core.ports import Channel
from assistant.core.roles import Role
from assistant.core.text import one_line
from assistant.router.access import Access
from assistant.store.pairing import Pairing

log = structlog.get_logger(__name__)

PAIRING_TEXT = N_(
    "Hi {name}! I only talk to people my owner has approved.\n"
    "Your pairing code is {code} (valid for one hour). Send it to the owner, who approves it "
    "with:\n  assistant pairing approve {channel} {code}"
)
_REPEAT_AFTER = 600.0  # a stranger who keeps writing is reminded of the code at most this often


class Gate:
    def __init__(self, access: Access, pairing: Pairing | None, config: Callable[[], Config]):
        self._access = access
        self._pairing = pairing
        self._config = config
        self._told: BoundedDict[str, float] = BoundedDict(2000)

    async def role(self, message: InboundMessage) -> Role | None:
        chat = message.chat
        role = await self._access.role(chat.channel, message.sender.user_id)
        if not chat.is_group:
            return role
        if not await self._access.chat_allowed(chat):
            return None
        if role is not None:
            return role
        members = self._config().access.group_members
        return None if members == "none" else Role(members)

    async def turn_away(self, message: InboundMessage, channel: Channel) -> None:
        """Answer someone who may not talk to the assistant here, if at all."""
        chat = message.chat
        user = message.sender.user_id
        log.info("access.refused", channel=chat.channel, chat_id=chat.chat_id, user_id=user)
        try:
            if message.kind is MessageKind.ACTION:
                await channel.answer_action(
                    message, tr("You are not allowed to do that."), alert=True
                )
            elif chat.is_group:
                if self._access.configured_role(chat.channel, user) is Role.OWNER and self._due(
                    f"group:{chat.key}", 3600
                ):
                    await channel.send(
                        OutboundMessage(
                            chat,
                            tr(
                                "This group is not on my allowlist. To let me answer here, run:\n"
                                "  assistant users allow-group {channel} {chat}"
                            ).format(channel=chat.channel, chat=chat.chat_id),
                            format="plain",
                        )
                    )
            elif message.kind is MessageKind.CHAT:
                await self._offer_pairing(message, channel)
        except ChannelError as exc:
            log.warning("access.reply_failed", error=str(exc))

    async def _offer_pairing(self, message: InboundMessage, channel: Channel) -> None:
        if self._pairing is None or not self._config().access.pairing:
            return
        chat = message.chat
        sender = message.sender
        request, fresh = await self._pairing.request(
            chat.channel,
            sender.user_id,
            name=one_line(sender.name or sender.username),
            chat_id=chat.chat_id,
        )
        key = f"{chat.channel}:{sender.user_id}"
        if fresh or self._due(f"code:{key}", _REPEAT_AFTER):
            if fresh:
                self._due(f"code:{key}", _REPEAT_AFTER)
                log.info("pairing.requested", channel=chat.channel, user_id=sender.user_id)
            text = tr(PAIRING_TEXT).format(
                name=one_line(sender.name) or tr("there"), code=request.code, channel=chat.channel
            )
            await channel.send(OutboundMessage(chat, text, format="plain"))

    def _due(self, key: str, every: float) -> bool:
        """True (and remembered) if ``key`` was not acted on in the last ``every`` seconds."""
        now = time.monotonic()
        last = self._told.get(key)
        if last is not None and now - last < every:
            return False
        self._told[key] = now
        return True
