"""The command policy, decided in a child process with a time and a memory limit.

Taking a command apart is the one thing the daemon does with text an attacker fully controls,
and the parser can be made to loop forever (bashlex 0.18 does on ``ls a'${'``) or a regular
expression to backtrack for minutes. A decision therefore runs in a separate Python process
(``python -m assistant.security.isolated``, started on first use and kept), which answers one
JSON line per request. When it takes longer than ``timeout`` seconds it is killed — and
restarted for the next request — and the command is denied. Call ``decide`` from a thread
(``asyncio.to_thread``): it blocks for the round trip (about a millisecond).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import IO, Any

import structlog

from assistant.config.ssh import SSHHost, SSHSection
from assistant.core import i18n
from assistant.core.i18n import tr
from assistant.core.roles import Permission
from assistant.security.commands import CommandPolicy, Decision, Verdict

log = structlog.get_logger(__name__)

MEMORY_LIMIT = 1 << 30  # bytes of address space for the child
_START_TIMEOUT = 60.0


class IsolatedPolicy:
    """``CommandPolicy``'s interface; the analysis runs in the child process."""

    def __init__(self, config: SSHSection, *, timeout: float = 3.0) -> None:
        self._local = CommandPolicy(config)  # for what needs no analysis (requires_totp)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self.configure(config)

    def configure(self, config: SSHSection) -> None:
        self._local.configure(config)
        self._section = config.model_dump(mode="json")

    def requires_totp(self, host: SSHHost) -> bool:
        return self._local.requires_totp(host)

    def decide(
        self, *, permissions: frozenset[Permission], host: SSHHost, command: str
    ) -> Decision:
        request = {
            "section": self._section,
            "host": host.model_dump(mode="json"),
            "permissions": sorted(p.value for p in permissions),
            "command": command,
            "locale": i18n.current(),  # the reasons are written in the requester's language
        }
        line = json.dumps(request, ensure_ascii=False).encode() + b"\n"
        with self._lock:
            try:
                answer = self._round_trip(line)
            except (OSError, ValueError) as exc:
                self._kill()
                log.warning("policy.analysis_failed", error=type(exc).__name__)
                return Decision(
                    Verdict.DENY, tr("the command could not be analysed"), "the shell analysis"
                )
        if answer is None:
            log.warning("policy.analysis_timeout", seconds=self._timeout)
            return Decision(
                Verdict.DENY,
                tr("the command could not be analysed within {seconds:g} seconds").format(
                    seconds=self._timeout
                ),
                "the shell analysis",
            )
        return Decision(Verdict(answer["verdict"]), answer["reason"], answer["rule"])

    def _round_trip(self, line: bytes) -> dict[str, Any] | None:
        child = self._ensure()
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(line)
        child.stdin.flush()
        deadline = time.monotonic() + self._timeout
        reply = _read_line(child.stdout, deadline)
        if reply is None:
            self._kill()
            return None
        answer: dict[str, Any] = json.loads(reply)
        return answer

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "assistant.security.isolated"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            # starting Python and importing the parser is not the command's time: wait for
            # the child to say it is ready, with a limit of its own
            assert self._child.stdout is not None
            ready = _read_line(self._child.stdout, time.monotonic() + _START_TIMEOUT)
            if ready != b"ready\n":
                self._kill()
                raise OSError("the policy process did not start")
        return self._child

    def _kill(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        with self._lock:
            self._kill()


def _read_line(stream: IO[bytes], deadline: float) -> bytes | None:
    """One line from the child, or None when the deadline passes first."""
    buffer = b""
    fd = stream.fileno()
    while not buffer.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            raise OSError("the policy process exited")
        buffer += chunk
    return buffer


def _serve() -> None:  # pragma: no cover - runs in the child process
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    cached: tuple[str, CommandPolicy] | None = None
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for raw in sys.stdin.buffer:
        try:
            request = json.loads(raw)
            key = json.dumps(request["section"], sort_keys=True)
            if cached is None or cached[0] != key:
                cached = (key, CommandPolicy(SSHSection.model_validate(request["section"])))
            policy = cached[1]
            host = SSHHost.model_validate(request["host"])
            with i18n.using(request.get("locale")):
                decision = policy.decide(
                    permissions=frozenset(Permission(p) for p in request["permissions"]),
                    host=host,
                    command=request["command"],
                )
            answer = {
                "verdict": decision.verdict.value,
                "reason": decision.reason,
                "rule": decision.rule,
            }
        except (MemoryError, RecursionError, ValueError, KeyError, TypeError) as exc:
            answer = {
                "verdict": "deny",
                "reason": f"the command could not be analysed ({type(exc).__name__})",
                "rule": "the shell analysis",
            }
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    _serve()
