"""Sending one notice along one route: chats (through the router, in each recipient's
language), email over SMTP (aiosmtplib, imported on the first email), or a signed webhook
(through the SSRF guard: an internal address only where ``[web]`` allows it).

A route's send returns whether it reached anyone; failures are logged here, once, without
secrets, and never raised (the next route of an escalation is the remedy)."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter

from assistant.core import i18n
from assistant.core.errors import AssistantError
from assistant.core.i18n import tr
from assistant.core.messages import Button, ChatRef, OutFile
from assistant.core.ports import Clock, Severity
from assistant.core.redact import Redactor
from assistant.features.alerts.render import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Event,
    Notice,
    dingtalk_url,
    encode,
    render_email,
    render_text,
    robot_body,
    signature,
    webhook_body,
)
from assistant.features.alerts.state import AlertRow
from assistant.net.client import FetchError, WebClient

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.config.alerts import ChatRoute, EmailRoute, WebhookRoute
    from assistant.router.locale import Locales
    from assistant.router.router import Router

log = structlog.get_logger(__name__)

ACTION = "alert"  # the Acknowledge button's action prefix: "alert:ack:ID"


class Routes:
    def __init__(
        self,
        *,
        router: Router,
        web: WebClient,
        locales: Locales,
        config: Callable[[], Config],
        clock: Clock,
        redactor: Redactor,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._sent = Counter(
            "assistant_alerts_sent",
            "Alert notices sent, per route, event and outcome",
            ["route", "event", "outcome"],
            registry=registry,
        )
        self._router = router
        self._web = web
        self._locales = locales
        self._config = config
        self._clock = clock
        self._redactor = redactor

    def _redacted(self, alert: AlertRow) -> AlertRow:
        """What was seen may quote a secret (a command line, a URL): it leaves masked."""
        red = self._redactor.text
        return replace(
            alert,
            title=red(alert.title),
            detail=red(alert.detail),
            resolve_detail=red(alert.resolve_detail) if alert.resolve_detail else None,
            params={k: red(v) for k, v in alert.params.items()},
        )

    def _zone(self) -> str:
        return self._config().assistant.timezone

    async def send(self, name: str, notice: Notice, files: tuple[OutFile, ...]) -> bool:
        reached = await self._send(name, replace(notice, alert=self._redacted(notice.alert)), files)
        outcome = "reached" if reached else "failed"
        self._sent.labels(name, notice.event.value, outcome).inc()
        return reached

    async def _send(self, name: str, notice: Notice, files: tuple[OutFile, ...]) -> bool:
        route = self._config().alerts.route(name)
        if route is None:  # removed by a reload
            log.warning("alerts.route_gone", route=name, alert=notice.alert.id)
            return False
        from assistant.config.alerts import ChatRoute, EmailRoute

        try:
            if isinstance(route, ChatRoute):
                return await self._chat(route, notice, files)
            if isinstance(route, EmailRoute):
                return await self._email(route, notice, files)
            return await self._webhook(route, notice, files)
        except Exception as exc:  # noqa: BLE001 - any failure: the next route is the remedy
            log.warning(
                "alerts.send_failed",
                route=name,
                alert=notice.alert.id,
                error=self._redactor.text(f"{type(exc).__name__}: {exc}")[:300],
            )
            return False

    # --- chats ---------------------------------------------------------------------------

    async def _targets(self, route: ChatRoute) -> list[tuple[ChatRef, str, str]]:
        """(chat, language, time zone) of each chat and person of the route on a running
        channel: a person's own (/lang, /tz), else the assistant's."""
        running = self._router.channels
        language, zone = self._locales.default(), self._zone()
        found: list[tuple[ChatRef, str, str]] = []
        for chat in route.chats:
            channel, _, chat_id = chat.partition(":")
            if channel in running:  # a route's chats are group chats (people are people)
                group = ChatRef(channel, chat_id, is_group=channel != "console")
                found.append((group, language, zone))
        people = self._config().alerts.people
        for person in route.people:
            for account in people.get(person, ()):
                channel, _, user_id = account.partition(":")
                if channel in running:
                    own = await self._locales.people.get(account)
                    spoken = await self._locales.of_person(channel, user_id)
                    found.append((ChatRef(channel, user_id), spoken, own.timezone or zone))
                    break
        return found

    async def _chat(self, route: ChatRoute, notice: Notice, files: tuple[OutFile, ...]) -> bool:
        targets = await self._targets(route)
        reached = 0
        channels = self._router.channels
        for chat, language, zone in targets:
            buttons = channels[chat.channel].features.buttons
            with_button = Notice(
                notice.event, notice.alert, notice.step, notice.routes, notice.ack_timeout, buttons
            )
            with i18n.using(language):
                text = render_text(with_button, zone)
                rows: tuple[tuple[Button, ...], ...] = ()
                if buttons and _acknowledgeable(notice):
                    rows = (
                        (Button(tr("Acknowledge"), f"{ACTION}:ack:{notice.alert.id}", "primary"),),
                    )
            try:
                await self._router.notify(chat, text, buttons=rows, plain=True, files=files)
                reached += 1
            except AssistantError as exc:
                log.warning(
                    "alerts.chat_failed", chat=chat.key, alert=notice.alert.id, error=str(exc)
                )
        log.info(
            "alerts.sent",
            route=route.name,
            alert=notice.alert.id,
            what=notice.event.value,
            reached=reached,
        )
        return reached > 0

    # --- email ---------------------------------------------------------------------------

    async def _email(self, route: EmailRoute, notice: Notice, files: tuple[OutFile, ...]) -> bool:
        import aiosmtplib  # ~0.08 s and 14 MB: only once an email is sent

        smtp = self._config().alerts.smtp
        assert smtp is not None, "validated with the config"
        with i18n.using(route.language or self._locales.default()):
            message = render_email(
                notice,
                self._zone(),
                sender=smtp.sender,
                to=route.to,
                files=files,
                now=self._clock.time(),
            )
        context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else None,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",
            tls_context=context if smtp.security != "none" else None,
            timeout=smtp.timeout,
        )
        log.info(
            "alerts.sent",
            route=route.name,
            alert=notice.alert.id,
            what=notice.event.value,
            reached=len(route.to),
        )
        return True

    # --- webhooks ------------------------------------------------------------------------

    async def _webhook(
        self, route: WebhookRoute, notice: Notice, files: tuple[OutFile, ...]
    ) -> bool:
        now = self._clock.time()
        secret = route.secret.get_secret_value() if route.secret else None
        with i18n.using(self._locales.default()):
            if route.format == "json":
                body = webhook_body(
                    notice, self._zone(), now=now, delivery=uuid.uuid4().hex, files=files
                )
            else:
                body = robot_body(notice, self._zone(), route.format)
        raw = encode(body)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(int(now)),
        }
        url = route.url.get_secret_value()
        if secret is not None:
            headers[SIGNATURE_HEADER] = signature(secret, raw)
            if route.format == "dingtalk":
                url = dingtalk_url(url, secret, now)
        try:
            response = await self._web.fetch(
                "POST", url, headers=headers, body=raw, timeout=route.timeout
            )
        except FetchError as exc:  # its message may quote the URL, a robot's token with it
            log.warning(
                "alerts.send_failed",
                route=route.name,
                alert=notice.alert.id,
                error=exc.kind,
                reason=self._redactor.text(exc.reason)[:300] if exc.kind != "invalid" else "",
            )
            return False
        answer = response.text()
        ok = 200 <= response.status < 300
        if ok and route.format != "json":
            ok = _robot_ok(answer)
        if not ok:
            log.warning(
                "alerts.webhook_refused",
                route=route.name,
                alert=notice.alert.id,
                status=response.status,
                answer=self._redactor.text(answer)[:200],
            )
            return False
        log.info(
            "alerts.sent",
            route=route.name,
            alert=notice.alert.id,
            what=notice.event.value,
            reached=1,
        )
        return True


def _acknowledgeable(notice: Notice) -> bool:
    return notice.alert.severity is Severity.CRITICAL and notice.event in (
        Event.FIRE,
        Event.ESCALATE,
    )


def _robot_ok(answer: str) -> bool:
    """DingTalk and WeCom answer 200 with ``{"errcode": 0}`` only when they took it."""
    import json

    try:
        body: Any = json.loads(answer)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("errcode") == 0
