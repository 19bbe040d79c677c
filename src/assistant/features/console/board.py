"""The web console's Jobs, Audit and System pages: JSON endpoints behind the gate.

Jobs come through the scheduler's ``JOB_BOARD`` port (a ``user`` sees and acts on the jobs
they created here; owner and admin on all). System shows what ``/readyz`` shows, a few
counters sampled once a minute for small charts, the effective config with its secrets
masked, a reload button (the daemon's ``RELOADER``, as SIGHUP), and the doctor's findings
on request.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import tomli_w
from aiohttp import web

from assistant.config import Config, masked_dump
from assistant.core.health import Health
from assistant.core.metrics import Metrics
from assistant.core.ports import Clock, JobBoard, Reloader
from assistant.core.text import MAX_ROW_ID, typed_id
from assistant.features.console.auth import refusal
from assistant.features.console.gate import Gate
from assistant.store.audit import AuditLog

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAMPLES = 180  # minutes of history kept for the charts
DOCTOR_TIMEOUT = 180.0  # seconds: a local model's load check alone may take 120
SERIES = {
    "received": "assistant_messages_received_total",
    "answered": "assistant_messages_answered_total",
    "turn_seconds": "assistant_turn_seconds_sum",
    "turns": "assistant_turn_seconds_count",
    "model_errors": "assistant_model_errors_total",
    "tokens": "assistant_tokens_total",
}


def totals(metrics: Metrics) -> dict[str, float]:
    """The counters the System page charts, summed over their labels."""
    wanted = {sample: key for key, sample in SERIES.items()}
    out = dict.fromkeys(SERIES, 0.0)
    for family in metrics.registry.collect():
        for sample in family.samples:
            key = wanted.get(sample.name)
            if key is not None:
                out[key] += sample.value
    return out


class Board:
    def __init__(
        self,
        gate: Gate,
        *,
        jobs: Callable[[], JobBoard | None],
        reloader: Callable[[], Reloader | None],
        audit: AuditLog,
        health: Health,
        metrics: Metrics,
        config: Callable[[], Config],
        tokens_today: Callable[[], int],
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._jobs = jobs
        self._reloader = reloader
        self._audit = audit
        self._health = health
        self._metrics = metrics
        self._config = config
        self._tokens_today = tokens_today
        self._clock = clock
        self.samples: deque[dict[str, float]] = deque(maxlen=SAMPLES)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/jobs", self.list_jobs),
            ("POST", "/api/jobs/{id}/{action}", self.job_action),
            ("GET", "/api/audit", self.audit),
            ("POST", "/api/audit/verify", self.verify),
            ("GET", "/api/system", self.system),
            ("POST", "/api/system/reload", self.reload),
            ("POST", "/api/system/doctor", self.doctor),
        ]

    def sample(self) -> None:
        """Note the counters now (the console's component calls this once a minute)."""
        self.samples.append({"at": self._clock.time(), **totals(self._metrics)})

    # --- jobs -----------------------------------------------------------------------------------

    async def list_jobs(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "jobs")
        if isinstance(who, web.Response):
            return who
        board = self._jobs()
        if board is None:
            return web.json_response({"enabled": False, "jobs": []})
        jobs = await board.list_jobs(None if who.staff else who.account)
        return web.json_response({"enabled": True, "jobs": [asdict(j) for j in jobs]})

    async def job_action(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "jobs")
        if isinstance(who, web.Response):
            return who
        board = self._jobs()
        if board is None:
            return refusal(503, "the scheduler is off ([scheduler] enabled = false)")
        job, action = request.match_info["id"], request.match_info["action"]
        if action == "cancel":
            message = await board.cancel_job(job, actor=who.account, admin=who.staff)
        elif action == "run":
            message = await board.run_job_now(job, actor=who.account, admin=who.staff)
        elif action in ("pause", "resume"):
            message = await board.pause_job(
                job, actor=who.account, admin=who.staff, paused=action == "pause"
            )
        else:
            return refusal(404, "a job's actions are cancel, run, pause and resume")
        return web.json_response({"message": message})

    # --- audit ----------------------------------------------------------------------------------

    async def audit(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "audit")
        if isinstance(who, web.Response):
            return who
        before = request.query.get("before", "")
        records = await self._audit.search(
            kind=request.query.get("kind", "")[:100],
            actor=request.query.get("actor", "")[:100],
            before=min(found, MAX_ROW_ID) if (found := typed_id(before)) is not None else None,
            limit=100,
        )
        rows = [
            {"id": r.id, "at": r.at, "kind": r.kind, "actor": r.actor, "data": r.data}
            for r in records
        ]
        return web.json_response({"records": rows})

    async def verify(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "audit")
        if isinstance(who, web.Response):
            return who
        problems = await self._audit.verify()
        await self._audit.append("audit.verified", who.account, problems=len(problems))
        return web.json_response({"ok": not problems, "problems": problems[:50]})

    # --- system ---------------------------------------------------------------------------------

    async def system(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "system")
        if isinstance(who, web.Response):
            return who
        now: dict[str, Any] = {"at": self._clock.time(), **totals(self._metrics)}
        body = {
            "ready": self._health.is_ready(),
            "components": self._health.snapshot(),
            "now": now,
            "tokens_today": self._tokens_today(),
            "samples": [*self.samples, now],
            "config": tomli_w.dumps(masked_dump(self._config())),
        }
        return web.json_response(body)

    async def doctor(self, request: web.Request) -> web.StreamResponse:
        """``assistant doctor --json`` on this daemon's config, in a child process (the
        doctor's checks are the command line's, read-only; they may take a while)."""
        who = await self._gate.visitor(request, "system")
        if isinstance(who, web.Response):
            return who
        daemon = self._reloader()
        if daemon is None:
            return refusal(503, "no daemon to examine")
        command = [sys.executable, "-m", "assistant", "doctor", "--json"]
        child = await asyncio.create_subprocess_exec(
            *command,
            "--config",
            str(daemon.config_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(DOCTOR_TIMEOUT):
                out, _ = await child.communicate()
        except TimeoutError:
            child.kill()
            await child.wait()
            return refusal(504, f"the doctor took longer than {DOCTOR_TIMEOUT:g} s")
        try:
            report = json.loads(out)
        except ValueError:
            return refusal(502, "the doctor did not answer in JSON")
        return web.json_response(report)

    async def reload(self, request: web.Request) -> web.StreamResponse:
        who = await self._gate.visitor(request, "system")
        if isinstance(who, web.Response):
            return who
        reloader = self._reloader()
        if reloader is None:
            return refusal(503, "no daemon to reload")
        await self._audit.append("config.reload_requested", who.account)
        reloader.request_reload()
        return web.json_response({"requested": True}, status=202)
