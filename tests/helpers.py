"""Small helpers the tests, the fault suite and the benchmarks share."""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from assistant.app import Daemon
from assistant.config import Config


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def merge_config(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, tables merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = value
    return out


class Running:
    """A daemon running in this process (``Daemon.run()`` as a task), watched through one
    component's health."""

    def __init__(self, daemon: Daemon, task: asyncio.Task[int], component: str) -> None:
        self.daemon = daemon
        self.task = task
        self.component = component

    @property
    def health(self) -> dict[str, Any]:
        return self.daemon.health.snapshot().get(self.component, {})

    async def wait_state(self, state: str, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while self.health.get("state") != state:
                await asyncio.sleep(0.01)

    async def stop(self, timeout: float = 15) -> int:
        self.daemon.stop()
        return await asyncio.wait_for(self.task, timeout)


R = TypeVar("R", bound=Running)


async def running_daemons(
    handle: Callable[[Daemon, asyncio.Task[int]], R],
) -> AsyncIterator[Callable[..., Awaitable[R]]]:
    """The body of a ``run_daemon`` fixture: ``await run_daemon(config)`` starts a daemon and
    waits for it (and, unless ``ready=False``, for its component) to be ready; every daemon
    still running at the end is stopped. ``clock``: the time the daemon sees (a FakeClock)."""
    running: list[R] = []

    async def start(config: Config, *, ready: bool = True, clock: Any = None) -> R:
        daemon = Daemon(
            config,
            config_path=config.assistant.state_dir / "none.toml",
            env={},
            configure_logging=False,
            clock=clock,
        )
        started = handle(daemon, asyncio.create_task(daemon.run()))
        running.append(started)
        async with asyncio.timeout(15):
            await daemon.ready.wait()
        if ready:
            await started.wait_state("ready")
        return started

    yield start
    for started in running:
        if not started.task.done():
            await started.stop()


class FakeClock:
    """The ``Clock`` port, moved by hand: ``advance(seconds)`` moves time on and wakes every
    ``sleep`` whose time has come (they run at the loop's next turn). Wall clock and monotonic
    clock move together.

    ``sleep(s)`` registers its wake-up time when called, not when first awaited, so a task
    that computes a delay and sleeps on it cannot miss an ``advance`` in between."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._sleeping: dict[asyncio.Future[None], str] = {}  # a sleep → its task's name

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> Awaitable[None]:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            wake.set_result(None)
        else:
            self._sleepers.append((self.now + seconds, wake))
            task = asyncio.current_task()
            if task is not None:
                self._sleeping[wake] = task.get_name()
        return self._wait(wake)

    async def _wait(self, wake: asyncio.Future[None]) -> None:
        try:
            await wake
        finally:
            wake.cancel()  # no-op when it fired; marks an abandoned sleep for pruning

    @property
    def sleepers(self) -> int:
        """How many sleep on this clock now."""
        return sum(1 for _, wake in self._sleepers if not wake.done())

    def sleeping(self, task: str) -> bool:
        """Whether the task named ``task`` sleeps on this clock now: a loop that went back to
        sleep after the work an ``advance`` woke it for (a daemon's component "monitor")."""
        return any(
            not wake.done() and self._sleeping.get(wake) == task for _, wake in self._sleepers
        )

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for at, wake in self._sleepers:
            if at <= self.now and not wake.done():
                wake.set_result(None)
        self._sleepers = [(at, wake) for at, wake in self._sleepers if not wake.done()]
        self._sleeping = {wake: name for wake, name in self._sleeping.items() if not wake.done()}

    def set(self, when: float) -> None:
        """Move on to ``when`` (seconds since the epoch); never back."""
        self.advance(max(0.0, when - self.now))


ManualClock = FakeClock  # the name earlier tests use


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF with ``text`` in a text layer."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def png_bytes(width: int = 2, height: int = 2, *, header_only: bool = False) -> bytes:
    """A black RGB PNG of ``width`` × ``height`` (``header_only``: one that only claims that
    size, for a platform's dimension checks without megabytes of pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = 1 if header_only else height
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * (1 if header_only else width) for _ in range(rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
