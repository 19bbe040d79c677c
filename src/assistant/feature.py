"""The feature contract: what a feature package adds to the assistant, as a value.

A feature (a chat platform, SSH, memory, the scheduler, pairing, …) is a package under
``assistant.features`` with one entry point, ``async def setup(ctx) -> Feature``. It builds
what it needs from the ``Context`` it is given (registering every teardown on ``ctx.stack``,
right where it sets something up) and returns a ``Feature``: the slash commands, button
actions, model tools, gateway routes, chat channels and long-running components it adds, what
it does once the channels serve (``start``), and how it applies a reloaded config
(``reload``). The composition root collects these values and wires them; it holds no logic of
its own. Features never import each other: they meet through the ports in ``core.ports``,
offered and found through ``Ports``.

The command line and the doctor are declared the same way, without starting anything: a
feature module's ``CLI`` is a sequence of ``CliCommand``, its ``CHECKS`` a sequence of
``Check`` (``assistant doctor`` runs them read-only, while the daemon may be running, so they
cannot come from ``setup``, which opens the state for writing).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from assistant.core.commands import (
    Action,
    Canceller,
    Command,
    HostReport,
    HostStatus,
    JobCanceller,
)
from assistant.core.messages import ChatRef
from assistant.core.ports import (
    AlertSink,
    Approver,
    Channel,
    CommandRunner,
    ConversationArchive,
    HostAction,
    HostDesk,
    HostProbe,
    JobBoard,
    MemoryDesk,
    PairingDesk,
    Recaller,
    Reloader,
    WebhookHandler,
)
from assistant.core.roles import Permission
from assistant.core.tools import Tool

if TYPE_CHECKING:
    import aiohttp

    from assistant.config import Config

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route on the gateway (a webhook): served without the admin token."""

    method: str
    path: str
    handler: WebhookHandler


@dataclass(frozen=True, slots=True)
class Component:
    """A long-running task the root runs in its TaskGroup, restarted with backoff when it
    fails; its state shows on ``/readyz`` under ``name``."""

    name: str
    run: Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What a feature did with a reloaded config: the dotted keys it applied live. Anything
    else that changed needs a restart, and the root says so."""

    applied: tuple[str, ...] = ()


Reload = Callable[["Config", "Config"], Awaitable[Reloaded]]


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    commands: Sequence[Command] = ()
    actions: Sequence[Action] = ()
    tools: Sequence[Tool[Any]] = ()
    routes: Sequence[Route] = ()
    channels: Sequence[Channel] = ()  # opened in setup (on ctx.stack); served by the root
    components: Sequence[Component] = ()
    start: Callable[[], Awaitable[None]] | None = None  # once the channels serve
    reload: Reload | None = None
    parts: Mapping[str, object] = field(default_factory=dict)  # named, for inspection


@dataclass(frozen=True, slots=True)
class Unconfigured:
    """What a feature's module offers while the config does not enable it: its slash commands
    (name, permission) answer ``hint``, one line saying how to set the feature up, and /help
    lists them under "Not set up yet"."""

    commands: Sequence[tuple[str, Permission]]
    hint: str


@dataclass(frozen=True, slots=True)
class CliContext:
    """What a feature's command line gets from the root: the loaded config, who runs it (for
    audit records), and a way to tell a person something through their chat channel."""

    config: Config
    actor: str  # "cli:USER"
    notify: Callable[[ChatRef, str], Awaitable[str | None]]  # why it failed, or None


@dataclass(frozen=True, slots=True)
class CliCommand:
    """An ``assistant NAME …`` subcommand. ``arguments`` adds its arguments and actions (give
    each action ``config_option``); ``run`` returns the exit status (raise ``AssistantError``
    for a one-line error)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, CliContext], int]


def config_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--config`` after an action too (``assistant jobs list --config PATH``)."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    return parser


# --- the doctor's checks ----------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but worth a look; does not fail the run
    FAIL = "fail"
    SKIP = "skip"  # not applicable (disabled, or an earlier check failed)


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


def doc_dirs() -> tuple[Path, ...]:
    """Where the documentation is: an installation's (install.sh copies it next to the
    program), then a checkout's."""
    checkout = Path(__file__).resolve().parents[2]
    installed = Path(sys.prefix) / "share" / "doc" / "assistant"
    return (installed, checkout / "docs", checkout / "config")


@dataclass
class CheckContext:
    """What every doctor check may use; built once per run."""

    config_path: Path
    env: Mapping[str, str]
    env_file: Path | None
    session: aiohttp.ClientSession
    config: Config | None = None
    config_problems: list[str] = field(default_factory=list)
    config_source: str = "given with --config"  # why this file (config.config_source)
    env_file_source: str = "named by $ASSISTANT_ENV_FILE"  # why this one (ops.envfile)
    now: Callable[[], float] = time.time  # wall clock, replaceable to test the clock check
    timeout: float = 20.0  # seconds one network call of a check may take
    model_load_timeout: float = 120.0  # seconds a local model may take to load
    min_free_bytes: int = 200 * 1024 * 1024
    warn_free_bytes: int = 1024 * 1024 * 1024
    service_user: str = "assistant"
    doc_dirs: tuple[Path, ...] = field(default_factory=doc_dirs)

    def doc(self, name: str) -> str:
        """Where a documentation file (``feishu.md``, ``assistant.example.toml``) is on this
        machine, for a fix to point at; ``docs/NAME`` when neither place has it."""
        return next((str(d / name) for d in self.doc_dirs if (d / name).is_file()), f"docs/{name}")


NETWORK_FIX = "check this machine's network connection and DNS"


@dataclass(frozen=True, slots=True)
class Check:
    """One doctor check: ``run`` returns its findings, read-only. It may take ``timeout``
    seconds (None: ``ctx.timeout`` plus a margin, for one network call); past that it is a
    failure whose fix is ``timeout_fix``, which says what a check that hangs means for this
    check."""

    name: str
    run: Callable[[CheckContext], Awaitable[list[Finding]]]
    timeout: float | None = None
    timeout_fix: str = NETWORK_FIX


def skipped_without_config(name: str) -> list[Finding]:
    return [Finding(name, Status.SKIP, "skipped: the config is not valid")]


# --- ports -------------------------------------------------------------------------------------


class Port(Generic[T]):
    """The key under which features offer an implementation of one ``core.ports`` protocol."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Port({self.name!r})"


@dataclass
class Ports:
    """Where features offer implementations of ports to each other: ``provide(RECALLER,
    memory)`` in one feature, ``get(RECALLER)`` in another (or in the kernel). A port may have
    several providers (``all``)."""

    _provided: dict[Port[Any], list[Any]] = field(default_factory=dict)

    def provide(self, port: Port[T], implementation: T) -> None:
        self._provided.setdefault(port, []).append(implementation)

    def get(self, port: Port[T]) -> T | None:
        found = self._provided.get(port)
        return cast(T, found[0]) if found else None

    def all(self, port: Port[T]) -> list[T]:
        return [cast(T, p) for p in self._provided.get(port, ())]


RECALLER: Port[Recaller] = Port("recaller")  # long-term memory for the prompt
ARCHIVE: Port[ConversationArchive] = Port("archive")  # told when /new ends a conversation
COMMAND_RUNNER: Port[CommandRunner] = Port("command-runner")  # monitoring checks over SSH
HOST_STATUS: Port[HostStatus] = Port("host-status")  # /status HOST
CANCELLER: Port[Canceller] = Port("canceller")  # /cancel
JOB_CANCELLER: Port[JobCanceller] = Port("job-canceller")  # /cancel ID
APPROVER: Port[Approver] = Port("approver")  # a second person approves a tool call
ALERTS: Port[AlertSink] = Port("alerts")  # monitoring and self-alerts to their routes
HOST_PROBE: Port[HostProbe] = Port("host-probe")  # the monitor's probe over SSH
HOST_REPORT: Port[HostReport] = Port("host-report")  # /status HOST of a monitored host
HOST_ACTION: Port[HostAction] = Port("host-action")  # a monitor rule's action, under the policy
JOB_BOARD: Port[JobBoard] = Port("job-board")  # the web console's Jobs page
PAIRING_DESK: Port[PairingDesk] = Port("pairing-desk")  # the web console's People page
HOST_DESK: Port[HostDesk] = Port("host-desk")  # the web console's Hosts page
MEMORY_DESK: Port[MemoryDesk] = Port("memory-desk")  # the web console's Memory page
RELOADER: Port[Reloader] = Port("reloader")  # the web console's reload button (the daemon)


def changed_keys(old: object, new: object, prefix: str) -> list[str]:
    """The dotted names of the fields that differ between two config sections."""
    fields: Iterable[str] = getattr(type(old), "model_fields", ())
    return [f"{prefix}.{name}" for name in fields if getattr(old, name) != getattr(new, name)]
