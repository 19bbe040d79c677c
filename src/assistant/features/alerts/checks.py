"""The doctor's look at the alert routes: chats on channels that are off, severities that go
nowhere, and the mail server (connects, TLS, login — nothing is sent)."""

from __future__ import annotations

import ssl

from assistant.config import Config
from assistant.config.alerts import SmtpServer
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config

_CHANNELS = ("telegram", "feishu", "whatsapp", "slack", "console")


def _running(config: Config) -> set[str]:
    found: set[str] = set()
    for name in _CHANNELS:
        section = getattr(config, name)
        enabled = section.enabled
        if enabled is None:  # the console: on with the gateway
            enabled = config.gateway.enabled
        if enabled:
            found.add(name)
    return found


async def check_alerts(ctx: CheckContext) -> list[Finding]:
    name = "alerts"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    alerts = config.alerts
    if not alerts.enabled:
        return [Finding(name, Status.SKIP, "disabled ([alerts] enabled = false)")]
    findings: list[Finding] = []
    running = _running(config)
    for route in alerts.chat:
        accounts = list(route.chats)
        for person in route.people:
            accounts += alerts.people.get(person, [])
        off = sorted({a.split(":", 1)[0] for a in accounts} - running)
        if off:
            findings.append(
                Finding(
                    name,
                    Status.WARN,
                    f"chat route {route.name!r} names {', '.join(off)}, which is not enabled",
                    "enable the channel, or give the route a chat on one that is",
                )
            )
    for severity in ("warning", "critical"):
        if not getattr(alerts, severity):
            findings.append(
                Finding(
                    name,
                    Status.WARN,
                    f"{severity} alerts go nowhere ([alerts] {severity} = [])",
                    f'name a route: {severity} = ["ops"] with an [[alerts.chat]] named ops',
                )
            )
    if alerts.smtp is not None and alerts.email:
        findings.append(await _smtp(alerts.smtp, ctx.timeout))
    if not findings:
        findings.append(Finding(name, Status.OK, f"{len(alerts.routes())} route(s)"))
    return findings


async def _smtp(smtp: SmtpServer, timeout: float) -> Finding:
    import aiosmtplib

    where = f"{smtp.host}:{smtp.port}"
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        tls_context=context if smtp.security != "none" else None,
        timeout=timeout,
    )
    try:
        await client.connect()
        if smtp.username:
            password = smtp.password.get_secret_value() if smtp.password else ""
            await client.login(smtp.username, password)
        await client.quit()
    except aiosmtplib.SMTPAuthenticationError:
        return Finding(
            "alerts smtp",
            Status.FAIL,
            f"{where} refused the login of {smtp.username}",
            "check [alerts.smtp] username and the password in assistant.env",
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        return Finding(
            "alerts smtp",
            Status.FAIL,
            f"cannot talk to the mail server {where} ({type(exc).__name__})",
            "check [alerts.smtp] host, port and security (starttls on 587, tls on 465)",
        )
    return Finding("alerts smtp", Status.OK, f"{where}: {smtp.security}, login accepted")


CHECKS = (Check("alerts", check_alerts),)
