"""Button presses: opaque action ids ``prefix:rest`` routed to the feature that made them.

A feature (approvals, later) registers a prefix with the permission a presser needs and a
handler; the router answers every press (a toast) and edits the message to show the outcome.
"""

from __future__ import annotations

from typing import Literal

import structlog

from assistant.core.commands import Action, ActionCall, ActionHandler, ActionResult
from assistant.core.errors import ChannelError
from assistant.core.i18n import tr
from assistant.core.messages import InboundMessage, SentMessage
from assistant.core.ports import Channel
from assistant.core.roles import Permission, Role
from assistant.security.policy import Policy

log = structlog.get_logger(__name__)


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, prefix: str, permission: Permission, handler: ActionHandler) -> None:
        if not prefix.isalnum() or prefix in self._actions:
            raise ValueError(f"action prefix {prefix!r} is invalid or registered twice")
        self._actions[prefix] = Action(prefix, permission, handler)

    def resolve(self, action_id: str) -> tuple[Action, str] | None:
        prefix, sep, rest = action_id.partition(":")
        action = self._actions.get(prefix)
        if action is None or not sep:
            return None
        return action, rest

    async def press(
        self, message: InboundMessage, role: Role, policy: Policy, channel: Channel
    ) -> None:
        """Run the button press ``message`` as ``role`` and answer it in ``channel``."""
        resolved = self.resolve(message.text)
        if resolved is None:
            result = ActionResult(toast=tr("This button is no longer valid."))
        elif not policy.allows(role, resolved[0].permission):
            result = ActionResult(
                toast=tr("Your role ({role}) may not do this.").format(role=role.value), alert=True
            )
        else:
            action, argument = resolved
            log.info("action.run", action=action.prefix)
            result = await action.handler(ActionCall(message, role, argument))
        try:
            await channel.answer_action(message, result.toast, alert=result.alert)
            if result.edit_text is not None and message.message_id is not None:
                where = SentMessage(message.chat, message.message_id)
                shown: Literal["markdown", "plain"] = "plain" if result.plain else "markdown"
                await channel.edit(where, result.edit_text, format=shown)
        except ChannelError as exc:
            log.warning("action.answer_failed", error=str(exc))
