"""Owner commands in chat: approve pairing requests, by ``/pair CODE`` or by the buttons of the
note each new request sends to the owners and admins (``[access] pairing_notify``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from assistant.core import i18n
from assistant.core.commands import ActionCall, ActionResult, Command, CommandCall
from assistant.core.errors import ChannelError, NotFound
from assistant.core.i18n import N_, tr
from assistant.core.messages import Button, ChatRef, SentMessage
from assistant.core.roles import Permission, Role
from assistant.core.text import code_span, one_line
from assistant.store.pairing import Pairing, PairingRequest

log = structlog.get_logger(__name__)

WELCOME = N_(
    "You're in! The owner approved you (role: {role}). Write to me any time; /help lists "
    "what I can do."
)

REQUESTED = N_(
    "{who} asks to talk to me (pairing code {code}, valid for an hour). Approve them as a "
    "user, or reject the request:"
)
PREFIX = "pair"  # the buttons' action: pair:CHANNEL:CODE:y|n

_LISTED = 20  # pending requests /pair shows; `assistant pairing list` shows all

Notify = Callable[[ChatRef, str], Awaitable[list[SentMessage]]]
LocaleOf = Callable[[str, str], Awaitable[str]]  # (channel, user_id) → that person's locale


def welcome_text(role: Role) -> str:
    return tr(WELCOME).format(role=role.value)


class PairingCommands:
    def __init__(
        self, *, pairing: Pairing, notify: Notify, locale_of: LocaleOf | None = None
    ) -> None:
        self._pairing = pairing
        self._notify = notify
        self._locale_of = locale_of  # the welcome is in the new person's language

    def commands(self) -> list[Command]:
        return [
            Command(
                "pair",
                N_("approve a pairing code (no code: list pending requests)"),
                Permission.ADMIN,
                self.pair,
                usage="/pair [CODE [role]]",
            )
        ]

    async def pair(self, call: CommandCall) -> str:
        channel = call.message.chat.channel
        args = call.args.split()
        if not args:
            pending = await self._pairing.pending(channel)
            if not pending:
                return tr("No pairing requests are waiting.")
            lines = [tr("Waiting for approval (/pair CODE [role]):")]
            lines += [f"{p.code} — {_who(p, markdown=True)}" for p in pending[-_LISTED:]]
            if len(pending) > _LISTED:
                lines.append(
                    tr("… and {count} older (assistant pairing list)").format(
                        count=len(pending) - _LISTED
                    )
                )
            return "\n".join(lines)
        role = args[1] if len(args) > 1 else Role.USER.value
        by = f"{channel}:{call.message.sender.user_id}"
        _, answer = await self.approve_pairing(channel, args[0], role, by=by, by_role=call.role)
        return answer

    async def approve_pairing(
        self, channel: str, code: str, role: str, *, by: str, by_role: str
    ) -> tuple[bool, str]:
        """``/pair CODE ROLE`` (and the web console's People page): grant, then welcome."""
        try:
            granted = Role(role.lower())
        except ValueError:
            return False, tr("Unknown role {role!r}; use owner, admin, user or guest.").format(
                role=role
            )
        if granted is Role.OWNER and by_role != Role.OWNER:
            return False, tr("Only an owner can make someone an owner.")
        try:
            request = await self._pairing.approve(channel, code, granted, by=by)
        except NotFound:
            return False, tr(
                "No pending {channel} pairing request with code {code}; it may have expired "
                "(codes last an hour): ask the person to write to the bot again."
            ).format(channel=channel, code=code.upper())
        log.info("pairing.approved", channel=channel, user_id=request.user_id, role=granted.value)
        who = _who(request, markdown=True)
        locale = None
        if self._locale_of is not None:
            locale = await self._locale_of(channel, request.user_id)
        with i18n.using(locale):
            welcome = welcome_text(granted)
        try:
            await self._notify(ChatRef(channel, request.chat_id), welcome)
        except ChannelError as exc:
            log.warning("pairing.notify_failed", error=str(exc))
            return True, tr("Approved {who} as {role}, but I could not tell them: {error}").format(
                who=who, role=granted.value, error=exc
            )
        return True, tr("Approved {who} as {role}. They have been told.").format(
            who=who, role=granted.value
        )

    # --- the buttons ------------------------------------------------------------------------

    @staticmethod
    def note(request: PairingRequest) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        """The note to the owners about a new request (in the current language), and its
        buttons."""
        action = f"{PREFIX}:{request.channel}:{request.code}"
        buttons = (
            (
                Button(tr("Approve"), f"{action}:y", "primary"),
                Button(tr("Reject"), f"{action}:n", "danger"),
            ),
        )
        return tr(REQUESTED).format(who=_who(request), code=request.code), buttons

    async def press(self, call: ActionCall) -> ActionResult:
        """A press of Approve (as a user) or Reject under a pairing note."""
        channel, _, rest = call.argument.partition(":")
        code, _, verdict = rest.partition(":")
        by = f"{call.message.chat.channel}:{call.message.sender.user_id}"
        if verdict == "y":
            _, answer = await self.approve_pairing(
                channel, code, Role.USER.value, by=by, by_role=call.role
            )
            return ActionResult(edit_text=answer)
        if verdict != "n":
            return ActionResult(toast=tr("This button is no longer valid."))
        try:
            request = await self._pairing.revoke(channel, code, by=by)
        except NotFound:
            gone = tr("No pending {channel} pairing request with code {code}.")
            return ActionResult(edit_text=gone.format(channel=channel, code=code))
        log.info("pairing.rejected", channel=channel, user_id=request.user_id)
        rejected = tr("Rejected the pairing request of {who}.").format(
            who=_who(request, markdown=True)
        )
        return ActionResult(edit_text=rejected)


def _who(request: PairingRequest, *, markdown: bool = False) -> str:
    """The stranger as the owners see them: their chosen name on one line, and their account.
    In Markdown it is a code span, so a name like ``[Verify](https://…)`` or ``**URGENT**``
    shows as the text it is, never as a link or formatting."""
    name = one_line(request.name) or tr("someone")
    who = f"{name} ({request.channel} {one_line(request.user_id)})"
    return code_span(who) if markdown else who
