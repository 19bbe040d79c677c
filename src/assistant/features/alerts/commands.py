"""/alerts, /ack, /silence, /silences, /unsilence and the Acknowledge button.

All of them need the permission ``alerts`` (owner and admin by default): acknowledging stops
an escalation and a silence keeps alerts from everyone, so a guest in an alert group may read
alerts but not quiet them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from assistant.core.commands import Action, ActionCall, ActionResult, Command, CommandCall
from assistant.core.i18n import N_, tr
from assistant.core.roles import Permission, Role
from assistant.core.text import code_span, typed_id
from assistant.features.alerts.render import EMOJI, Event, Notice, render_text, title
from assistant.features.alerts.routes import ACTION
from assistant.features.alerts.service import AlertService
from assistant.features.alerts.state import Status
from assistant.scheduler.parse import duration_seconds

MAX_SILENCE = 30 * 86400.0
_PATTERN = re.compile(r"[\w.*?\[\]:/-]{1,100}")
BROAD = N_(
    "Only an owner may silence with a pattern that does not begin with a name: `{pattern}` "
    "would hold back alerts nobody named. Begin it with at least two characters of the host "
    "or the key, like `web*` or `self:*`."
)
SILENCE_USAGE = N_(
    "Usage: /silence PATTERN DURATION — PATTERN is a glob on the host or the alert key "
    "(`web*`, `self:*`), DURATION like 30m, 2h or 1d."
)


def named(pattern: str) -> bool:
    """Whether a silence's pattern names what it holds back: at least two characters before
    its first wildcard (``web*``, ``self:*``), where ``*``, ``?*`` or ``*:cpu`` would hold back
    every host's alerts, the assistant's own trouble included."""
    first = next((i for i, c in enumerate(pattern) if c in "*?["), len(pattern))
    return first >= 2


def _actor(call: CommandCall | ActionCall) -> tuple[str, str]:
    sender = call.message.sender
    return f"{call.message.chat.channel}:{sender.user_id}", sender.name or sender.user_id


class AlertCommands:
    def __init__(self, service: AlertService, timezone: Callable[[], str]) -> None:
        self._service = service
        self._timezone = timezone

    def commands(self) -> list[Command]:
        return [
            Command("alerts", N_("alerts firing now"), Permission.ALERTS, self.alerts),
            Command(
                "ack",
                N_("acknowledge an alert: no more escalation"),
                Permission.ALERTS,
                self.ack,
                usage="/ack ID",
                immediate=True,
            ),
            Command(
                "silence",
                N_("hold alerts of matching hosts or keys back for a while"),
                Permission.ALERTS,
                self.silence,
                usage="/silence PATTERN DURATION",
            ),
            Command("silences", N_("silences in force"), Permission.ALERTS, self.silences),
            Command(
                "unsilence",
                N_("end a silence"),
                Permission.ALERTS,
                self.unsilence,
                usage="/unsilence ID",
            ),
        ]

    def actions(self) -> list[Action]:
        return [Action(ACTION, Permission.ALERTS, self.press)]

    def _when(self, at: float) -> str:
        return datetime.fromtimestamp(at, ZoneInfo(self._timezone())).strftime("%Y-%m-%d %H:%M")

    async def alerts(self, call: CommandCall) -> str:
        found = await self._service.open()
        if not found:
            return tr("No alerts are firing.")
        lines = [tr("Alerts firing (/ack ID acknowledges one):")]
        for alert in found:
            where = f" {code_span(alert.host)}" if alert.host else ""
            if alert.status is Status.ACKNOWLEDGED:
                state = tr("acknowledged by {name}").format(name=code_span(alert.acked_by))
            elif alert.held_by and alert.held_by.startswith("silence:"):
                state = tr("held back by silence #{id}").format(id=alert.held_by.split(":")[1])
            elif alert.held_by == "cooldown":
                state = tr("held back: it flaps (cooldown)")
            else:
                state = tr("since {when}").format(when=self._when(alert.fired_at))
            # the title is what a host or a command said: shown as text, never a link or format
            shown = code_span(title(alert))
            lines.append(f"#{alert.id} {EMOJI[alert.severity]}{where}: {shown} — {state}")
        return "\n".join(lines)

    async def ack(self, call: CommandCall) -> str:
        alert_id = typed_id(call.args)
        if alert_id is None:
            return tr("Usage: /ack ID — /alerts lists the ids.")
        by, name = _actor(call)
        answer, _ = await self._service.acknowledge(alert_id, by, name)
        return answer

    async def press(self, call: ActionCall) -> ActionResult:
        what, _, ident = call.argument.partition(":")
        alert_id = typed_id(ident)
        if what != "ack" or alert_id is None:
            return ActionResult(toast=tr("This button is no longer valid."))
        by, name = _actor(call)
        answer, alert = await self._service.acknowledge(alert_id, by, name)
        if alert is None or alert.status is not Status.ACKNOWLEDGED:
            return ActionResult(toast=answer)
        # the message with the button: the same alert, acknowledged, without the button; plain
        # like the alert was (its title and detail are what a host or a command said)
        edited = render_text(Notice(Event.FIRE, alert), self._timezone())
        return ActionResult(toast=answer, edit_text=edited, plain=True)

    async def silence(self, call: CommandCall) -> str:
        parts = call.args.split()
        if len(parts) != 2 or not _PATTERN.fullmatch(parts[0]):
            return tr(SILENCE_USAGE)
        try:
            seconds = duration_seconds(parts[1])
        except ValueError:
            return tr(SILENCE_USAGE)
        if seconds > MAX_SILENCE:
            return tr("A silence lasts at most 30 days.")
        if not named(parts[0]) and call.role is not Role.OWNER:
            return tr(BROAD).format(pattern=parts[0])
        by, _ = _actor(call)
        found = await self._service.silence(parts[0], seconds, by)
        return tr("Silence #{id}: alerts matching `{pattern}` are held back until {until}.").format(
            id=found.id, pattern=found.pattern, until=self._when(found.until)
        )

    async def silences(self, call: CommandCall) -> str:
        found = await self._service.silences()
        if not found:
            return tr("No silences are in force.")
        lines = [tr("Silences (/unsilence ID ends one):")]
        for silence in found:
            lines.append(
                tr("#{id} `{pattern}` until {until}, by {by}").format(
                    id=silence.id,
                    pattern=silence.pattern,
                    until=self._when(silence.until),
                    by=silence.created_by,
                )
            )
        return "\n".join(lines)

    async def unsilence(self, call: CommandCall) -> str:
        silence_id = typed_id(call.args)
        if silence_id is None:
            return tr("Usage: /unsilence ID — /silences lists the ids.")
        by, _ = _actor(call)
        found = await self._service.unsilence(silence_id, by)
        if found is None:
            return tr("There is no silence #{id} in force.").format(id=silence_id)
        return tr("Silence #{id} ended.").format(id=found.id)
