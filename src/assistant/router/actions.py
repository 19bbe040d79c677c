"""Button presses: opaque action ids ``prefix:rest`` routed to the feature that made them.

A feature (approvals, later) registers a prefix with the permission a presser needs and a
handler; the router answers every press (a toast) and edits the message to show the outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from assistant.core.messages import InboundMessage
from assistant.core.roles import Permission, Role


@dataclass(frozen=True, slots=True)
class ActionCall:
    message: InboundMessage  # kind ACTION; text is the full action id
    role: Role
    argument: str  # the part after "prefix:"


@dataclass(frozen=True, slots=True)
class ActionResult:
    toast: str = ""  # shown to the presser
    alert: bool = False  # as a dialog instead of a toast
    edit_text: str | None = None  # new text for the message that carried the buttons


ActionHandler = Callable[[ActionCall], Awaitable[ActionResult]]


@dataclass(frozen=True, slots=True)
class Action:
    prefix: str
    permission: Permission
    handler: ActionHandler


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
