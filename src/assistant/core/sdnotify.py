"""The systemd notify protocol: state lines sent as one datagram to ``$NOTIFY_SOCKET``.

``Notifier(env)`` is inert when the variable is unset (not run by systemd, or not
``Type=notify``), so callers never check. The socket path may be a file or an abstract
socket (a leading ``@``). Sending never raises and never blocks: a lost notification is
logged once and the program goes on.

``watchdog_interval`` is half of ``$WATCHDOG_USEC`` (systemd's advice), or None when the
watchdog is off or meant for another process (``$WATCHDOG_PID``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str]) -> None:
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if raw.startswith("@"):
            self.address = "\0" + raw[1:]
        elif raw.startswith("/"):
            self.address = raw
        self.watchdog_interval = _watchdog_interval(env)
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (``ready=1`` → ``READY=1``); True when it was sent."""
        if self.address is None:
            return False
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message.encode(), self.address)
        except OSError as exc:
            if not self._failed:  # systemd gone or the socket full: say so once
                log.warning("sdnotify.failed", error=exc.strerror or str(exc))
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify(ready=1, **({"status": status} if status else {}))

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(reloading=1, monotonic_usec=usec, status="reloading the config")

    def stopping(self, status: str = "") -> bool:
        return self.notify(stopping=1, **({"status": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def watchdog(self) -> bool:
        return self.notify(watchdog=1)


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2_000_000
