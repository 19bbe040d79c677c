"""Builders of the optional components (memory, scheduler), for the composition root.

Each builds its component only when the config enables it, and imports the heavy libraries
(chromadb and the embedder; APScheduler and SQLAlchemy) inside the builder, never at module
level: a disabled component costs nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import aiohttp
import structlog

from assistant.config import Config
from assistant.core.errors import MemoryUnavailable
from assistant.core.health import ComponentState, Health
from assistant.core.ports import CommandRunner
from assistant.llm.client import ModelClient
from assistant.memory.embedder import Embedder
from assistant.memory.service import MemoryService
from assistant.router.commands import CancelCommand, CommandRegistry
from assistant.router.memory_commands import MemoryCommands
from assistant.router.router import Router
from assistant.store.conversations import Conversations
from assistant.store.db import Database
from assistant.tools.registry import ToolRegistry

if TYPE_CHECKING:  # imports APScheduler: only when the scheduler is enabled
    from assistant.scheduler.service import SchedulerService

log = structlog.get_logger(__name__)

JOBS_STORE = "jobs.db"  # the daemon's APScheduler store
CONSOLE_JOBS_STORE = "jobs-console.db"  # `assistant chat` fires console jobs from its own


def _embedder(
    stack: AsyncExitStack, config: Config, health: Health, session: aiohttp.ClientSession
) -> Embedder:
    from assistant.memory.embedder import LocalEmbedder, OpenAIEmbedder

    if config.memory.embedder == "openai":
        health.set("memory", ComponentState.READY)
        return OpenAIEmbedder(session, config.memory.embeddings)
    local = LocalEmbedder()  # started once the store is open (see build_memory)
    stack.callback(local.close)
    return local


def _start_loading(embedder: Embedder, health: Health) -> None:
    from assistant.memory.embedder import LocalEmbedder

    if not isinstance(embedder, LocalEmbedder):
        return

    def loaded(future: asyncio.Future[float]) -> None:
        error = future.exception()
        if error is None:
            health.set("memory", ComponentState.READY)
        else:
            health.set("memory", ComponentState.FAILED, str(error))

    # about 1.6 s on its own thread; memory calls queue behind it. Only now, after the
    # store opened: chromadb and the embedder must not import numpy in two threads at once.
    asyncio.wrap_future(embedder.loading).add_done_callback(loaded)


async def build_memory(
    stack: AsyncExitStack,
    config: Config,
    *,
    health: Health,
    session: aiohttp.ClientSession,
    conversations: Conversations | None = None,
    client: ModelClient | None = None,
    embedder: Embedder | None = None,
) -> MemoryService | None:
    """The memory service; None when disabled or unavailable (everything else still runs).

    ``embedder`` replaces the configured one (a test suite loads the real one once).
    """
    settings = config.memory
    if not settings.enabled:
        return None
    from assistant.memory.store import MemoryStore

    health.register("memory", required=False)
    # One BLAS thread: fastest for short texts (measured), and leaves a core for the loop.
    # Only effective before numpy is first imported (by chromadb, when the store opens).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if embedder is None:
        embedder = _embedder(stack, config, health, session)
    else:
        health.set("memory", ComponentState.READY)
    if settings.mode == "embedded":
        store = MemoryStore(embedder_name=embedder.name, path=config.assistant.state_dir / "chroma")
    else:
        store = MemoryStore(embedder_name=embedder.name, server=settings.server)
    try:
        await stack.enter_async_context(store)
    except MemoryUnavailable as exc:
        health.set("memory", ComponentState.FAILED, str(exc))
        log.error("memory.unavailable", error=str(exc))
        return None
    _start_loading(embedder, health)
    return await stack.enter_async_context(
        MemoryService(
            store=store,
            embedder=embedder,
            settings=settings,
            zone=ZoneInfo(config.assistant.timezone),
            conversations=conversations,
            client=client,
        )
    )


def add_memory(
    memory: MemoryService,
    *,
    tools: ToolRegistry,
    commands: CommandRegistry,
    timezone: Callable[[], str],
) -> None:
    from assistant.tools.memory import ForgetTool, RecallTool, RememberTool

    for tool in (RememberTool(memory), RecallTool(memory), ForgetTool(memory)):
        tools.register(tool)
    MemoryCommands(registry=commands, memory=memory, timezone=timezone)


async def build_scheduler(
    stack: AsyncExitStack,
    config: Config,
    *,
    db: Database,
    router: Router,
    tools: ToolRegistry,
    commands: CommandRegistry,
    cancel: CancelCommand,
    health: Health,
    timezone: Callable[[], str],
    store: str = JOBS_STORE,
    runner: CommandRunner | None = None,
) -> SchedulerService | None:
    """The scheduler (not yet firing: ``start()`` it once the router's channels are added).
    Enter it after the router, so that it stops firing before the router closes."""
    if not config.scheduler.enabled:
        return None
    from assistant.router.job_commands import JobCommands
    from assistant.scheduler.service import SchedulerService
    from assistant.tools.schedule import JobsTool, ScheduleTool

    health.register("scheduler", required=False)
    scheduler = await stack.enter_async_context(
        SchedulerService(
            db=db,
            store_path=Path(config.assistant.state_dir) / store,
            submit=router.submit,
            channels=lambda: router.channels.keys(),
            settings=config.scheduler,
            timezone=config.assistant.timezone,
            check_timeout=config.agent.tool_timeout,
            runner=runner,
        )
    )
    for tool in (ScheduleTool(scheduler), JobsTool(scheduler)):
        tools.register(tool)
    JobCommands(registry=commands, cancel=cancel, scheduler=scheduler, timezone=timezone)
    return scheduler


async def start_scheduler(scheduler: SchedulerService | None, health: Health) -> None:
    if scheduler is None:
        return
    started = await scheduler.start()
    if started:
        health.set("scheduler", ComponentState.READY)
    else:
        health.set(
            "scheduler", ComponentState.DEGRADED, "another assistant process runs these jobs"
        )
