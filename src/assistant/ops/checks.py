"""The doctor's checks that belong to no feature: the config, the secrets file, the state, the
models, the clock and the gateway. Each is read-only; ``all_checks`` adds the features' own
(each feature package's ``CHECKS``), in the order they are shown.

To add one: write ``async def check_NAME(ctx: CheckContext) -> list[Finding]`` and list it as a
``Check`` in ``CHECKS`` (or in a feature's ``CHECKS``, when it belongs to one). Use
``ctx.session`` for HTTP, ``ctx.timeout`` as the limit of one network call, and return
``skipped_without_config(...)`` when ``ctx.config`` is None.
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import socket
import stat
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp

from assistant import features
from assistant.config import ModelProvider, secret_values
from assistant.core.errors import ModelError, ModelRequestError
from assistant.core.metrics import Metrics
from assistant.core.redact import Redactor
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config
from assistant.llm.client import ModelClient
from assistant.llm.types import ChatMessage, ModelRequest
from assistant.ops.checks_state import check_state_data

_MAX_SKEW = 300.0  # seconds of clock difference that break TLS, tokens and reminders


async def check_config(ctx: CheckContext) -> list[Finding]:
    path, why = ctx.config_path, ctx.config_source
    if ctx.config is None and not path.exists():
        example = ctx.doc("assistant.example.toml")
        start = (
            f"cp {example} {path}, then edit it"
            if path.parent.is_dir()
            else f"copy {example} to a place of your choice and edit it"
        )
        return [
            Finding(
                "config",
                Status.FAIL,
                f"{path} ({why}) does not exist",
                f"pass --config PATH or set ASSISTANT_CONFIG to the config you use; to start "
                f"one: {start}",
            )
        ]
    if ctx.config is None:
        first, *rest = ctx.config_problems or ["unknown problem"]
        more = f" (and {len(rest)} more)" if rest else ""
        named = "" if why.startswith("the default") else f" {path}"
        return [
            Finding(
                "config",
                Status.FAIL,
                f"{first}{more}",
                f"edit {path}, then run: assistant check-config{named}",
            )
        ]
    models = ", ".join(m.name for m in ctx.config.models) or "none"
    return [Finding("config", Status.OK, f"{path} ({why}) is valid (models: {models})")]


async def check_secrets_file(ctx: CheckContext) -> list[Finding]:
    name, path, why = "secrets file", ctx.env_file, ctx.env_file_source
    if path is None:
        return [Finding(name, Status.SKIP, "ASSISTANT_ENV_FILE is empty: no secrets file")]
    try:
        st = path.stat()
    except FileNotFoundError:
        installed = ctx.config_path.is_file() and ctx.config_path.parent == path.parent
        if why.startswith("the default") and not installed:
            return [  # a checkout, a test: nothing expects the file
                Finding(
                    name,
                    Status.SKIP,
                    f"none: {path} ({why}) does not exist, and no config is beside it; secrets "
                    "come from the environment (ASSISTANT_ENV_FILE=PATH reads a file)",
                )
            ]
        create = f"sudo install -m 600 -o root -g root /dev/null {path}"
        if not path.parent.is_dir():
            create = f"sudo install -d -m 755 {path.parent}; {create}"
        return [
            Finding(
                name,
                Status.WARN,
                f"{path} ({why}) does not exist: secrets can only come from the environment",
                f"{create}, then add NAME=value lines",
            )
        ]
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return [
            Finding(
                name,
                Status.FAIL,
                f"{path} has mode {mode:04o}: other users can read or change the secrets",
                f"sudo chmod 600 {path}",
            )
        ]
    if st.st_uid != 0:
        return [
            Finding(
                name,
                Status.FAIL,
                f"{path} belongs to {_user(st.st_uid)}, not root: that user can read the "
                "secrets and change what the service runs with",
                f"sudo chown root:root {path}",
            )
        ]
    return [Finding(name, Status.OK, f"{path} has mode {mode:04o} and belongs to root")]


async def check_state_dir(ctx: CheckContext) -> list[Finding]:
    name = "state dir"
    if ctx.config is None:
        return skipped_without_config(name)
    path = ctx.config.assistant.state_dir
    findings = _state_dir(ctx, path)
    findings.append(_disk_space(ctx, path))
    return findings


def _state_dir(ctx: CheckContext, path: Path) -> list[Finding]:
    name = "state dir"
    try:
        st = path.stat()
    except FileNotFoundError:
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK | os.X_OK):
            return [Finding(name, Status.WARN, f"{path} does not exist yet; `run` creates it")]
        return [
            Finding(
                name,
                Status.FAIL,
                f"{path} does not exist and cannot be created by this user",
                f"sudo install -d -m 700 -o {ctx.service_user} -g {ctx.service_user} {path}",
            )
        ]
    if not stat.S_ISDIR(st.st_mode):
        return [
            Finding(name, Status.FAIL, f"{path} is not a directory", "set [assistant] state_dir")
        ]
    owner = _user(st.st_uid)
    fix_owner = f"sudo chown -R {ctx.service_user}: {path}"
    if not os.access(path, os.W_OK | os.X_OK):
        return [Finding(name, Status.FAIL, f"{path} is not writable by this user", fix_owner)]
    if os.geteuid() == 0 and st.st_uid == 0 and _exists(ctx.service_user):
        return [
            Finding(
                name,
                Status.FAIL,
                f"{path} belongs to root: the service user {ctx.service_user} cannot write it",
                fix_owner,
            )
        ]
    strangers = sorted(entry.name for entry in path.iterdir() if entry.lstat().st_uid != st.st_uid)
    if strangers:
        return [
            Finding(
                name,
                Status.FAIL,
                f"{', '.join(strangers[:5])} in {path} belong to someone other than {owner} "
                "(a command run as root?): the service cannot write them",
                fix_owner,
            )
        ]
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return [
            Finding(
                name,
                Status.WARN,
                f"{path} has mode {mode:04o}: other users can read the conversations",
                f"sudo chmod 700 {path}",
            )
        ]
    return [Finding(name, Status.OK, f"{path} is writable, belongs to {owner}, mode {mode:04o}")]


def _disk_space(ctx: CheckContext, path: Path) -> Finding:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    shown = f"{free / 1024**3:.1f} GiB free on the disk of {existing}"
    fix = "free some space (journalctl --vacuum-size=200M, apt-get clean) or grow the disk"
    if free < ctx.min_free_bytes:
        return Finding("disk space", Status.FAIL, f"only {shown}", fix)
    if free < ctx.warn_free_bytes:
        return Finding("disk space", Status.WARN, f"only {shown}", fix)
    return Finding("disk space", Status.OK, shown)


async def check_models(ctx: CheckContext) -> list[Finding]:
    if ctx.config is None:
        return skipped_without_config("models")
    if not ctx.config.models:
        return [
            Finding(
                "models",
                Status.WARN,
                "no [[models]] entry: chat messages are answered with a hint",
                f"add a [[models]] entry to the config (see {ctx.doc('models.md')})",
            )
        ]
    redactor = Redactor(secret_values(ctx.config))
    return [await _ask(ctx, provider, redactor) for provider in ctx.config.models]


async def _ask(ctx: CheckContext, provider: ModelProvider, redactor: Redactor) -> Finding:
    name = f"model {provider.name}"
    client = ModelClient(
        ctx.session, [provider], metrics=Metrics(), redactor=redactor, backoff_cap=1.0
    )
    request = ModelRequest(messages=(ChatMessage("user", "Reply with: ok"),), max_tokens=16)
    started = time.monotonic()
    try:
        await client.complete(request, deadline=started + min(provider.timeout, ctx.timeout))
    except ModelRequestError as exc:
        return Finding(
            name,
            Status.FAIL,
            str(exc),
            f"check api_key, model and base_url of [[models]] {provider.name!r} "
            "(the key's variable in the secrets file)",
        )
    except ModelError as exc:
        return Finding(
            name,
            Status.FAIL,
            f"{provider.base_url} did not answer: {exc}",
            "check base_url and that this machine reaches it (a proxy goes in HTTPS_PROXY "
            "in the secrets file)",
        )
    ms = (time.monotonic() - started) * 1000
    return Finding(
        name, Status.OK, f"{provider.model} at {provider.base_url} answered in {ms:.0f} ms"
    )


async def check_clock(ctx: CheckContext) -> list[Finding]:
    now = ctx.now()
    year = time.gmtime(now).tm_year
    fix = "turn on time synchronisation: sudo timedatectl set-ntp true"
    if not 2024 <= year < 2100:
        return [Finding("clock", Status.FAIL, f"the system clock says the year is {year}", fix)]
    models = ctx.config.models if ctx.config else []
    for provider in models:
        remote = await _server_time(ctx, provider.base_url)
        if remote is None:
            continue
        skew = now - remote
        host = provider.base_url.split("/")[2]
        if abs(skew) > _MAX_SKEW:
            ahead = "ahead of" if skew > 0 else "behind"
            return [
                Finding("clock", Status.FAIL, f"the clock is {abs(skew):.0f} s {ahead} {host}", fix)
            ]
        return [Finding("clock", Status.OK, f"within {abs(skew):.0f} s of {host}")]
    return [Finding("clock", Status.OK, f"year {year}; no server to compare with")]


async def _server_time(ctx: CheckContext, url: str) -> float | None:
    try:
        async with ctx.session.head(
            url, timeout=aiohttp.ClientTimeout(total=min(ctx.timeout, 10)), allow_redirects=False
        ) as response:
            date = response.headers.get("Date")
        return parsedate_to_datetime(date).timestamp() if date else None
    except (aiohttp.ClientError, TimeoutError, ValueError, TypeError):
        return None


async def check_gateway(ctx: CheckContext) -> list[Finding]:
    if ctx.config is None:
        return skipped_without_config("gateway")
    gw = ctx.config.gateway
    if not gw.enabled:
        return [Finding("gateway", Status.SKIP, "disabled in the config")]
    if gw.port == 0:
        return [Finding("gateway", Status.SKIP, "port 0: a free port is chosen at start")]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(gw.host, gw.host)  # noqa: S104
    where = f"{gw.host}:{gw.port}"
    problem = _bind_problem(gw.host, gw.port)
    if problem is None:
        return [Finding("gateway", Status.OK, f"{where} is free (the daemon is not running)")]
    if problem != errno.EADDRINUSE:
        return [
            Finding(
                "gateway",
                Status.FAIL,
                f"cannot listen on {where} ({os.strerror(problem)})",
                "set [gateway] host to an address of this machine (127.0.0.1)",
            )
        ]
    base = f"http://{f'[{host}]' if ':' in host else host}:{gw.port}"
    timeout = aiohttp.ClientTimeout(total=min(ctx.timeout, 5))
    try:  # a session of its own: a proxy from the environment must not see loopback calls
        async with aiohttp.ClientSession(timeout=timeout) as local:
            async with local.get(f"{base}/healthz") as response:
                alive = response.status == 200 and (await response.json()).get("status") == "ok"
            async with local.get(f"{base}/readyz") as response:
                ready = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
        alive, ready = False, {}
    if not alive:
        return [
            Finding(
                "gateway",
                Status.FAIL,
                f"{where} is used by another program",
                f"stop it (sudo ss -ltnp 'sport = :{gw.port}' shows which) or change "
                "[gateway] port",
            )
        ]
    if not ready.get("ready"):
        down = [
            f"{name} {c.get('state')}" + (f" ({c['detail']})" if c.get("detail") else "")
            for name, c in sorted(ready.get("components", {}).items())
            if c.get("state") not in ("ready", "degraded") and c.get("required", True)
        ]
        return [
            Finding(
                "gateway",
                Status.FAIL,
                f"the daemon answers on {where} but is not ready: {'; '.join(down) or '?'}",
                "see the log: journalctl -u assistant -e",
            )
        ]
    return [Finding("gateway", Status.OK, f"the daemon answers on {where} and is ready")]


def _bind_problem(host: str, port: int) -> int | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the gateway does
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EINVAL
    return None


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


LOCAL_FIX = "the file system does not answer: look for a hung mount or a failing disk (dmesg)"

CHECKS: tuple[Check, ...] = (
    Check("config", check_config, timeout=10, timeout_fix=LOCAL_FIX),
    Check("secrets file", check_secrets_file, timeout=10, timeout_fix=LOCAL_FIX),
    Check("state dir", check_state_dir, timeout=10, timeout_fix=LOCAL_FIX),
    Check(
        "state data",
        check_state_data,
        timeout=300,
        timeout_fix="SQLite's integrity_check reads every page: on a large state and a slow "
        "disk that takes long; run it again when the machine is idle, and look for a "
        "failing disk (dmesg)",
    ),
    Check("models", check_models),
    Check("clock", check_clock),
    Check("gateway", check_gateway),
)


def all_checks() -> tuple[Check, ...]:
    """The checks that belong to no feature, then each feature's, in ``features.NAMES`` order
    (a feature that is off reports itself skipped)."""
    declared = (getattr(features.module(name), "CHECKS", ()) for name in features.NAMES)
    return CHECKS + tuple(check for checks in declared for check in checks)
