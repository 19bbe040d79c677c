"""Running commands on the inventory's hosts over SSH (asyncssh).

One pooled connection per host (keepalive, reconnect with backoff), at most ``max_sessions``
commands at once per host (OpenSSH allows 10 per connection), host keys verified against the
pinned known_hosts file — there is no way to turn that off — and never a fallback to another
host or to this machine.

Each run is wrapped in a remote ``timeout -s KILL N`` and also terminated from here when the
local deadline passes or the run is cancelled, so nothing keeps running on the host. Output is
read as it arrives and capped: the head and the tail are kept around a marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncssh
import structlog

from assistant.config.ssh import SSHHost, SSHSection
from assistant.core.backoff import Backoff
from assistant.core.errors import ToolError

log = structlog.get_logger(__name__)

OutputCallback = Callable[[str], None]
_GRACE = 5.0  # the local deadline is the remote timeout plus this


@dataclass(frozen=True, slots=True)
class RunResult:
    host: str
    command: str
    exit_status: int | None  # None: killed by a signal or cut off
    output: str  # capped: head + marker + tail
    output_bytes: int
    output_sha256: str
    duration: float
    timed_out: bool = False
    cancelled: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out and not self.cancelled


@dataclass
class _Capped:
    """Keeps the first and last ``limit/2`` bytes of a stream, and its size and digest."""

    limit: int
    head: bytearray = field(default_factory=bytearray)
    tail: deque[bytes] = field(default_factory=deque)
    tail_size: int = 0
    total: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.digest.update(data)
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail.append(data)
            self.tail_size += len(data)
            while self.tail and self.tail_size - len(self.tail[0]) >= self.limit // 2:
                self.tail_size -= len(self.tail.popleft())

    def text(self) -> tuple[str, bool]:
        tail = b"".join(self.tail)[-(self.limit // 2) :]
        kept = len(self.head) + len(tail)
        if kept >= self.total:
            return (bytes(self.head) + tail).decode("utf-8", "replace"), False
        # cut at whole lines: half a line (half a key, half a token) is what the redactor
        # cannot recognise
        head = _whole_lines(bytes(self.head), keep="start")
        tail = _whole_lines(tail, keep="end")
        cut = self.total - len(head) - len(tail)
        return (
            f"{head.decode('utf-8', 'replace')}\n[… {cut} bytes cut …]\n"
            f"{tail.decode('utf-8', 'replace')}",
            True,
        )

    def latest_lines(self, count: int) -> str:
        """The last ``count`` complete lines seen so far (for progress messages)."""
        recent = b"".join(self.tail) if self.tail else bytes(self.head)
        if self.tail and self.total > len(recent):
            recent = _whole_lines(recent, keep="end")
        lines = recent.decode("utf-8", "replace").splitlines()
        if recent and not recent.endswith(b"\n"):
            lines = lines[:-1]  # still being written
        return "\n".join(lines[-count:])


def _whole_lines(data: bytes, *, keep: str) -> bytes:
    """``data`` without the partial line at its cut end (unless that is all there is)."""
    if keep == "start":
        end = data.rfind(b"\n")
        return data[: end + 1] if end >= 0 else data
    start = data.find(b"\n")
    return data[start + 1 :] if 0 <= start < len(data) - 1 else data


@dataclass
class _Pooled:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    connection: asyncssh.SSHClientConnection | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))
    retry_at: float = 0.0
    last_error: str = ""


def _target(host: SSHHost) -> str:
    return f"{host.name} ({host.address}:{host.port})"


class SSHExecutor:
    def __init__(self, config: SSHSection, *, known_hosts: Path) -> None:
        self._config = config
        self._known_hosts = known_hosts
        self._pool: dict[str, _Pooled] = {}
        self._sessions: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> SSHExecutor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for pooled in self._pool.values():
            if pooled.connection is not None:
                pooled.connection.close()
                await pooled.connection.wait_closed()
                pooled.connection = None

    def configure(self, config: SSHSection) -> None:
        """Apply a reloaded config; connections to hosts whose entry changed are dropped."""
        old = {h.name: h for h in self._config.hosts}
        self._config = config
        for host in config.hosts:
            if old.get(host.name) != host:
                pooled = self._pool.pop(host.name, None)
                if pooled and pooled.connection is not None:
                    pooled.connection.close()

    @property
    def config(self) -> SSHSection:
        return self._config

    def host(self, name: str) -> SSHHost:
        host = self._config.host(name)
        if host is None:
            known = ", ".join(h.name for h in self._config.hosts) or "none"
            raise ToolError(f"There is no host named {name!r}. Known hosts: {known}.")
        return host

    # --- connections ----------------------------------------------------------------------

    def options(self, host: SSHHost) -> dict[str, object]:
        config = self._config
        key_file = host.key_file or config.key_file
        agent = host.agent or config.agent
        options: dict[str, object] = {
            "host": host.address,
            "port": host.port,
            "username": host.user or config.user,
            "known_hosts": str(self._known_hosts),
            "connect_timeout": host.connect_timeout or config.connect_timeout,
            "keepalive_interval": config.keepalive or None,
            "client_keys": [str(key_file)] if key_file else None,
            "agent_path": () if agent else None,
            "config": None,  # never read ~/.ssh/config: the inventory is the only source
        }
        if not key_file and not agent:
            options["client_keys"] = ()  # the default keys of the service user
        return options

    async def _connect(self, host: SSHHost, depth: int = 0) -> asyncssh.SSHClientConnection:
        if not self._known_hosts.exists():
            raise ToolError(
                f"No host keys are pinned yet ({self._known_hosts} is missing). Run "
                f"`assistant ssh trust {host.name}` once to pin this host's key."
            )
        options = self.options(host)
        if host.jump is not None:
            if depth > 3:
                raise ToolError(f"{_target(host)}: too many jump hosts in a row")
            options["tunnel"] = await self._connection(self.host(host.jump), depth + 1)
        try:
            return await asyncssh.connect(**options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise ToolError(
                f"The host key of {_target(host)} is not the pinned one ({exc.reason}). Either "
                "the server was reinstalled, or something is intercepting the connection. If "
                f"you expect the change, re-pin it with `assistant ssh trust {host.name}`."
            ) from None
        except asyncssh.PermissionDenied:
            user = options["username"]
            raise ToolError(
                f"{_target(host)} refused the login of {user!r}: check the key file and that its "
                f"public key is in ~{user}/.ssh/authorized_keys on the host"
            ) from None
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            reason = (
                getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
            )
            raise ToolError(f"{_target(host)} is unreachable: {reason}") from None

    async def _connection(self, host: SSHHost, depth: int = 0) -> asyncssh.SSHClientConnection:
        pooled = self._pool.setdefault(host.name, _Pooled())
        async with pooled.lock:
            connection = pooled.connection
            if connection is not None and not connection.is_closed():
                return connection
            now = time.monotonic()
            if now < pooled.retry_at:
                raise ToolError(f"{pooled.last_error} (retrying in {pooled.retry_at - now:.0f}s)")
            try:
                pooled.connection = await self._connect(host, depth)
            except ToolError as exc:
                pooled.last_error = str(exc)
                pooled.retry_at = time.monotonic() + pooled.backoff.next_delay()
                log.warning("ssh.connect_failed", host=host.name, error=str(exc))
                raise
            pooled.backoff.reset()
            pooled.retry_at = 0.0
            log.info("ssh.connected", host=host.name)
            return pooled.connection

    async def connection(self, name: str) -> asyncssh.SSHClientConnection:
        """The pooled connection to the host called ``name``, connecting (through its jump hosts)
        if there is none. It stays the pool's: use it, never close it."""
        return await self._connection(self.host(name))

    def _drop(self, host: SSHHost) -> None:
        pooled = self._pool.get(host.name)
        if pooled is not None and pooled.connection is not None:
            pooled.connection.close()
            pooled.connection = None

    # --- running --------------------------------------------------------------------------

    async def run(
        self,
        host_name: str,
        command: str,
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> RunResult:
        host = self.host(host_name)
        limit = min(timeout or self._config.command_timeout, self._config.max_timeout)
        connection = await self._connection(host)
        semaphore = self._sessions.setdefault(
            host.name, asyncio.Semaphore(self._config.max_sessions)
        )
        async with semaphore:
            try:
                return await self._run(connection, host, command, limit, on_output)
            except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, ConnectionError) as exc:
                self._drop(host)  # a dead pooled connection: reconnect once and retry
                log.info("ssh.reconnecting", host=host.name, error=type(exc).__name__)
                connection = await self._connection(host)
                return await self._run(connection, host, command, limit, on_output)

    async def _run(
        self,
        connection: asyncssh.SSHClientConnection,
        host: SSHHost,
        command: str,
        limit: float,
        on_output: OutputCallback | None,
    ) -> RunResult:
        # `timeout` becomes the leader of a new process group, so the whole command can be
        # killed through its PID, which the remote shell prints first ($$, then exec).
        wrapped = f"echo $$; exec timeout -s KILL {max(1, int(limit))} sh -c {shlex.quote(command)}"
        capped = _Capped(self._config.max_output)
        started = time.monotonic()
        timed_out = cancelled = False
        pid: int | None = None
        pending = b""
        process = await connection.create_process(wrapped, stderr=asyncssh.STDOUT, encoding=None)
        process.stdin.write_eof()  # nothing to read: `cat` or `grep x` alone end at once
        try:
            async with asyncio.timeout(limit + _GRACE):
                while True:
                    data = await process.stdout.read(65536)
                    if not data:
                        break
                    if pid is None:
                        pending += data
                        if b"\n" not in pending:
                            continue
                        first, _, data = pending.partition(b"\n")
                        pid = int(first) if first.strip().isdigit() else -1
                        if not data:
                            continue
                    capped.add(data)
                    if on_output is not None:
                        on_output(capped.latest_lines(15))
                await process.wait()
        except TimeoutError:
            timed_out = True
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            duration = time.monotonic() - started
            if timed_out or cancelled or process.exit_status is None:
                await _kill(connection, process, pid)
        status = process.exit_status
        killed = status in (137, -1) or process.exit_signal is not None
        if killed and duration >= limit - 0.5:
            timed_out = True  # the remote `timeout -s KILL` fired (it kills its own group)
        if status is not None and status < 0:
            status = None  # ended by a signal
        output, truncated = capped.text()
        return RunResult(
            host=host.name,
            command=command,
            exit_status=None if timed_out else status,
            output=output,
            output_bytes=capped.total,
            output_sha256=capped.digest.hexdigest(),
            duration=duration,
            timed_out=timed_out,
            truncated=truncated,
        )


async def _kill(
    connection: asyncssh.SSHClientConnection,
    process: asyncssh.SSHClientProcess[bytes],
    pid: int | None,
) -> None:
    """End the remote command: kill its process group by PID, then close the channel."""
    if pid is not None and pid > 1:
        with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
            await asyncio.wait_for(
                connection.run(f"kill -KILL -- -{pid} {pid} 2>/dev/null", check=False), 5
            )
    _stop(process)


def _stop(process: asyncssh.SSHClientProcess[bytes]) -> None:
    """End the remote process: SIGKILL through the channel, then close the channel."""
    with contextlib.suppress(OSError, asyncssh.Error, ValueError):
        process.kill()
    process.close()
