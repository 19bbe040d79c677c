"""ExecService: one path for every command run on a server, from a tool or from /run.

request → audit → policy (per host) → approval if asked → run on each host concurrently, with
progress in the chat and a Cancel button → audit each result → a summary. What runs is exactly
the host list and command that were judged (and approved); nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from assistant.config.ssh import SSHHost
from assistant.core.errors import ToolError
from assistant.core.i18n import N_, tr
from assistant.core.messages import Button, ChatRef, Sender, SentMessage
from assistant.core.ports import ApprovalResult, Approver, ChatIO
from assistant.core.redact import Redactor
from assistant.core.roles import Permission, Role
from assistant.security.commands import Decision, Judge, Verdict
from assistant.ssh.executor import RunResult, SSHExecutor
from assistant.store.audit import AuditLog

log = structlog.get_logger(__name__)

CANCEL_PREFIX = "x"
STATUS_COMMAND = (
    "uptime; echo; free -m; echo; df -hP -x tmpfs -x devtmpfs -x squashfs -x overlay; echo; "
    "echo 'failed units:'; systemctl --failed --no-legend --plain 2>/dev/null || true"
)


@dataclass(frozen=True, slots=True)
class ExecRequest:
    hosts: str  # a host name, a tag, or "tag:NAME"
    command: str
    sender: Sender
    chat: ChatRef
    permissions: frozenset[Permission]
    direct: bool = False  # typed as /run by a person (not chosen by a model)
    role: Role | None = None  # the sender's role: the owner's own /run confirms itself
    io: ChatIO | None = None
    hold: Callable[[], contextlib.AbstractAsyncContextManager[None]] | None = None
    timeout: float | None = None
    trusted: bool = False  # a fixed command of ours (host_status): no policy, still audited


@dataclass(frozen=True, slots=True)
class ExecReport:
    text: str
    is_error: bool
    results: tuple[RunResult, ...] = ()


@dataclass(slots=True)
class _Active:
    run_id: str
    chat_key: str
    actor: str
    task: asyncio.Task[list[RunResult | BaseException]]
    cancelled_by: str | None = None


def _combine(decisions: list[tuple[SSHHost, Decision]]) -> Decision:
    for host, decision in decisions:
        if decision.verdict is Verdict.DENY:
            return Decision(Verdict.DENY, f"{decision.reason} (on {host.name})")
    asks = [
        f"{d.reason} (on {h.name})" if len(decisions) > 1 else d.reason
        for h, d in decisions
        if d.verdict is Verdict.ASK
    ]
    if asks:
        return Decision(Verdict.ASK, "; ".join(dict.fromkeys(asks)))
    return Decision(Verdict.ALLOW, "every part is allowed")


def format_result(result: RunResult) -> str:
    if result.cancelled:
        head = tr("{host}: cancelled after {seconds:.1f}s").format(
            host=result.host, seconds=result.duration
        )
    elif result.timed_out:
        head = tr(
            "{host}: stopped after {seconds:.0f}s (time limit); the process was killed"
        ).format(host=result.host, seconds=result.duration)
    else:
        head = tr("{host}: exit {status} in {seconds:.1f}s").format(
            host=result.host, status=result.exit_status, seconds=result.duration
        )
    body = result.output.rstrip() or tr("(no output)")
    return f"{head}\n```\n{body}\n```"


class ExecService:
    def __init__(
        self,
        *,
        executor: SSHExecutor,
        policy: Judge,
        approvals: Callable[[], Approver | None],  # the APPROVER port, found per request
        audit: AuditLog,
        redactor: Redactor,
        progress_interval: Callable[[], float],
    ) -> None:
        self._executor = executor
        self._policy = policy
        self._approvals = approvals
        self._audit = audit
        self._redactor = redactor
        self._interval = progress_interval
        self._active: dict[str, _Active] = {}
        self._asking: dict[str, set[asyncio.Future[ApprovalResult]]] = {}
        self._ids = itertools.count(1)

    @property
    def executor(self) -> SSHExecutor:
        return self._executor

    def resolve(self, spec: str) -> list[SSHHost]:
        config = self._executor.config
        wanted = spec.strip()
        tag = wanted.removeprefix("tag:")
        host = config.host(wanted)
        if host is not None and not wanted.startswith("tag:"):
            return [host]
        tagged = [h for h in config.hosts if tag in h.tags]
        if tagged:
            return tagged
        names = ", ".join(h.name for h in config.hosts) or tr("none")
        tags = ", ".join(sorted({t for h in config.hosts for t in h.tags})) or tr("none")
        raise ToolError(
            tr("There is no host or tag {spec!r}. Hosts: {names}. Tags: {tags}.").format(
                spec=spec, names=names, tags=tags
            )
        )

    async def execute(self, request: ExecRequest) -> ExecReport:
        # what is judged is what runs: the policy trims blanks and newlines, so trim them here
        request = dataclasses.replace(request, command=request.command.strip(" \t\n"))
        try:
            hosts = self.resolve(request.hosts)
        except ToolError as exc:
            return ExecReport(str(exc), True)
        names = [h.name for h in hosts]
        actor = f"{request.chat.channel}:{request.sender.user_id}"
        await self._audit.append(
            "exec.request",
            actor,
            hosts=names,
            command=request.command,
            direct=request.direct,
            trusted=request.trusted,
        )
        # A person deciding, and the command's own time limit (up to [ssh] max_timeout), are
        # not the tool's or the turn's deadline: both are paused meanwhile.
        hold = request.hold() if request.hold is not None else contextlib.nullcontext()
        async with hold:
            if not request.trusted:
                refusal = await self._authorize(request, hosts, actor)
                if refusal is not None:
                    return ExecReport(refusal, True)
            return await self._run(request, hosts, actor)

    async def _authorize(
        self, request: ExecRequest, hosts: list[SSHHost], actor: str
    ) -> str | None:
        """None when the command may run now; otherwise why not (for the model or person)."""
        # the analysis blocks (it runs in a child process with a time limit): off the loop
        decision = _combine(
            [
                (
                    h,
                    await asyncio.to_thread(
                        self._policy.decide,
                        permissions=request.permissions,
                        host=h,
                        command=request.command,
                    ),
                )
                for h in hosts
            ]
        )
        await self._audit.append(
            "policy.decision",
            actor,
            verdict=decision.verdict.value,
            reason=decision.reason,
            hosts=[h.name for h in hosts],
            command=request.command,
        )
        log.info("exec.policy", verdict=decision.verdict.value, reason=decision.reason)
        if decision.verdict is Verdict.DENY:
            return tr("Denied by the policy: {reason}. Nothing was run.").format(
                reason=decision.reason
            )
        if decision.verdict is Verdict.ALLOW:
            return None
        totp = any(self._policy.requires_totp(h) for h in hosts)
        if request.direct and request.role is Role.OWNER and not totp:
            await self._audit.append(
                "approval.self", actor, command=request.command, hosts=[h.name for h in hosts]
            )
            return None
        approver = self._approvals()
        if approver is None:
            return tr(
                "This command needs a second person's approval ({reason}), and this assistant "
                "has no approvals. Nothing was run."
            ).format(reason=decision.reason)
        if request.io is not None:
            await request.io.send(
                tr("⏳ Asking for approval to run on {hosts}:\n{command}").format(
                    hosts=", ".join(h.name for h in hosts), command=request.command
                )
            )
        waiter = asyncio.ensure_future(
            approver.request(
                requester=request.sender,
                channel=request.chat.channel,
                chat=request.chat,
                hosts=tuple(h.name for h in hosts),
                command=request.command,
                reason=decision.reason,
                totp=totp,
            )
        )
        asking = self._asking.setdefault(request.chat.key, set())
        asking.add(waiter)
        try:
            outcome = await waiter  # a cancelled turn cancels the request with it: withdrawn
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            # /cancel in the chat withdrew the request; the turn goes on and says so
            if request.io is not None:
                await request.io.send(tr("↩️ The approval request was withdrawn."))
            return tr("The request to run `{command}` was withdrawn. Nothing was run.").format(
                command=request.command
            )
        finally:
            asking.discard(waiter)
            if not asking:
                self._asking.pop(request.chat.key, None)
        if request.io is not None:
            note = {
                "approved": N_("✅ Approved by {by} (#{id})."),
                "denied": N_("❌ Denied by {by} (#{id})."),
                "withdrawn": N_("↩️ Request #{id} was withdrawn."),
                "expired": N_("⌛ Request #{id} expired without a decision."),
            }.get(outcome.status, N_("Request #{id} could not reach another approver."))
            await request.io.send(tr(note).format(by=outcome.decided_by, id=outcome.id))
        if outcome.approved:
            return None
        why = {
            "denied": N_(
                "The request (#{id}) to run `{command}` was denied by {by}. Nothing was run."
            ),
            "withdrawn": N_(
                "The request (#{id}) to run `{command}` was withdrawn. Nothing was run."
            ),
            "expired": N_(
                "The request (#{id}) to run `{command}` expired without a decision. "
                "Nothing was run."
            ),
        }.get(
            outcome.status,
            N_(
                "The request (#{id}) to run `{command}` could not be delivered to any approver "
                "other than the requester. Nothing was run."
            ),
        )
        return tr(why).format(id=outcome.id, command=request.command, by=outcome.decided_by)

    async def _run(self, request: ExecRequest, hosts: list[SSHHost], actor: str) -> ExecReport:
        run_id = uuid.uuid4().hex[:8]
        latest: dict[str, str] = {}
        changed = asyncio.Event()

        def progress(host: str) -> Callable[[str], None]:
            def seen(lines: str) -> None:
                latest[host] = self._redactor.text(lines)
                changed.set()

            return seen

        task = asyncio.create_task(self._gather(request, hosts, progress), name=f"exec:{run_id}")
        active = _Active(run_id, request.chat.key, actor, task)
        self._active[run_id] = active
        reporter = asyncio.create_task(self._report(request, hosts, run_id, latest, changed, task))
        started = time.monotonic()
        try:
            try:
                outcomes = await asyncio.shield(task)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    task.cancel()
                    raise  # the turn itself is being cancelled (shutdown): not ours to report
                outcomes = [asyncio.CancelledError() for _ in hosts]
        finally:
            self._active.pop(run_id, None)
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        results: list[RunResult] = []
        errors: list[str] = []
        for host, outcome in zip(hosts, outcomes, strict=True):
            if isinstance(outcome, RunResult):
                # what a command prints reaches the chat, the model and the conversation
                # store only through the redactor
                outcome = dataclasses.replace(outcome, output=self._redactor.text(outcome.output))
                results.append(outcome)
                await self._audit.append(
                    "exec.result",
                    actor,
                    host=host.name,
                    command=request.command,
                    exit_status=outcome.exit_status,
                    duration=round(outcome.duration, 3),
                    output_bytes=outcome.output_bytes,
                    output_sha256=outcome.output_sha256,
                    timed_out=outcome.timed_out,
                )
            elif isinstance(outcome, asyncio.CancelledError):
                elapsed = time.monotonic() - started
                partial = latest.get(host.name, "")
                results.append(
                    RunResult(
                        host.name, request.command, None, partial, 0, "", elapsed, cancelled=True
                    )
                )
                await self._audit.append(
                    "exec.cancelled",
                    active.cancelled_by or actor,
                    host=host.name,
                    command=request.command,
                )
            else:
                errors.append(self._redactor.text(f"{host.name}: {outcome}"))
                await self._audit.append(
                    "exec.failed",
                    actor,
                    host=host.name,
                    command=request.command,
                    error=str(outcome),
                )
        text = "\n\n".join([*(format_result(r) for r in results), *errors])
        return ExecReport(text, not results, tuple(results))

    async def _gather(
        self,
        request: ExecRequest,
        hosts: list[SSHHost],
        progress: Callable[[str], Callable[[str], None]],
    ) -> list[RunResult | BaseException]:
        async def one(host: SSHHost) -> RunResult:
            return await self._executor.run(
                host.name, request.command, timeout=request.timeout, on_output=progress(host.name)
            )

        return await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)

    async def _report(
        self,
        request: ExecRequest,
        hosts: list[SSHHost],
        run_id: str,
        latest: dict[str, str],
        changed: asyncio.Event,
        task: asyncio.Task[list[RunResult | BaseException]],
    ) -> None:
        """Show progress of a long run: one message, edited every few seconds, with Cancel."""
        io = request.io
        if io is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self._interval())
            return  # quick runs need no progress message
        title = tr("▶ Running on {hosts}: {command}").format(
            hosts=", ".join(h.name for h in hosts), command=request.command
        )
        buttons = ((Button(tr("Cancel"), f"{CANCEL_PREFIX}:{run_id}", "danger"),),)
        sent: SentMessage | None = await io.send(title, buttons=buttons)
        if sent is None:
            return
        try:
            while not task.done():
                await asyncio.sleep(self._interval())
                if not changed.is_set():
                    continue
                changed.clear()
                body = "\n\n".join(f"[{h}]\n{lines}" for h, lines in latest.items())
                await io.edit(sent, f"{title}\n\n{body}"[-3500:], buttons=buttons)
        finally:
            with contextlib.suppress(Exception):
                await io.edit(sent, tr("■ Finished: {command}").format(command=request.command))

    def cancel_chat(self, chat_key: str, by: str) -> bool:
        """Cancel what runs for this chat, and withdraw the approval requests its turns wait
        for (/cancel); False when there is nothing."""
        found = False
        for waiter in list(self._asking.get(chat_key, ())):
            waiter.cancel()
            found = True
        for active in list(self._active.values()):
            if active.chat_key == chat_key:
                active.cancelled_by = by
                active.task.cancel()
                found = True
        return found

    def cancel_run(self, run_id: str, by: str, *, may_cancel_others: bool) -> str:
        active = self._active.get(run_id)
        if active is None:
            return tr("That command has already finished.")
        if active.actor != by and not may_cancel_others:
            return tr("Only the person who started it (or an approver) can cancel it.")
        active.cancelled_by = by
        active.task.cancel()
        return tr("Cancelling…")
