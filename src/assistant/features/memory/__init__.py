"""Long-term memory: remember, recall and forget, per person or group, in an embedded vector
store (Chroma) with an offline embedder.

Staged: ``setup`` returns at once with a memory service that is still loading; the store and
the embedder open in ``start``, once the channels serve (chromadb and the embedder take
seconds and most of the footprint). Meanwhile a turn's recall and a /remember wait for them
(up to 20 s), then go on without.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import structlog

from assistant.core.i18n import N_
from assistant.core.roles import Permission
from assistant.feature import (
    ARCHIVE,
    MEMORY_DESK,
    RECALLER,
    Feature,
    Reloaded,
    Unconfigured,
    changed_keys,
)

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.kernel import Context
    from assistant.memory.embedder import Embedder

log = structlog.get_logger(__name__)

NAME = "memory"

UNCONFIGURED = Unconfigured(
    commands=(
        ("remember", Permission.MEMORY),
        ("memory", Permission.MEMORY),
        ("forget", Permission.MEMORY),
    ),
    hint=N_(
        "memory is off: set [memory] enabled = true in the config and restart the assistant "
        "(docs/memory.md)",
    ),
)
# what a running assistant applies on reload; the rest of [memory] needs a restart
LIVE = (
    "recall_top_k",
    "min_similarity",
    "recall_tokens",
    "dedupe_similarity",
    "shared",
    "summaries",
)


def enabled(config: Config) -> bool:
    return config.memory.enabled


async def setup(ctx: Context) -> Feature:
    from zoneinfo import ZoneInfo

    from assistant.core.health import ComponentState
    from assistant.features.memory.commands import MemoryCommands
    from assistant.features.memory.desk import MemoryDesk
    from assistant.memory.service import MemoryService
    from assistant.tools.memory import ForgetTool, RecallTool, RememberTool

    config = ctx.config
    ctx.health.register(NAME, required=False)
    ctx.health.set(NAME, ComponentState.STARTING, "loading")
    memory = await ctx.stack.enter_async_context(
        MemoryService(
            settings=config.memory,
            zone=ZoneInfo(config.assistant.timezone),
            conversations=ctx.conversations,
            client=ctx.client,
        )
    )
    ctx.ports.provide(RECALLER, memory)
    ctx.ports.provide(ARCHIVE, memory)
    ctx.ports.provide(MEMORY_DESK, MemoryDesk(memory))

    async def start() -> None:
        await _open(ctx, memory)

    async def reload(old: Config, new: Config) -> Reloaded:
        memory.configure(new.memory, ZoneInfo(new.assistant.timezone))
        keys = changed_keys(old.memory, new.memory, NAME)
        return Reloaded(tuple(k for k in keys if k.split(".", 1)[1] in LIVE))

    return Feature(
        NAME,
        commands=MemoryCommands(memory=memory, timezone=ctx.timezone).commands(),
        tools=(RememberTool(memory), RecallTool(memory), ForgetTool(memory)),
        start=start,
        reload=reload,
        parts={"memory": memory},
    )


async def _open(ctx: Context, memory: object) -> None:
    """Open the store and load the embedder (seconds); then memory answers."""
    from assistant.core.errors import MemoryUnavailable
    from assistant.core.health import ComponentState
    from assistant.memory.service import MemoryService
    from assistant.memory.store import MemoryStore

    assert isinstance(memory, MemoryService)
    settings = ctx.config.memory
    # One BLAS thread: fastest for short texts (measured), and leaves a core for the loop.
    # Only effective before numpy is first imported (by chromadb, when the store opens).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    embedder: Embedder | None = ctx.options.get("embedder")
    if embedder is None:
        embedder = _embedder(ctx)
    try:
        if settings.mode == "embedded":
            store = MemoryStore(embedder_name=embedder.name, path=ctx.state_dir / "chroma")
        else:
            store = MemoryStore(embedder_name=embedder.name, server=settings.server)
        await ctx.stack.enter_async_context(store)
    except MemoryUnavailable as exc:
        ctx.health.set(NAME, ComponentState.FAILED, str(exc))
        log.error("memory.unavailable", error=str(exc))
        memory.failed(str(exc))
        return
    loading = getattr(embedder, "wait_loaded", None)
    if loading is not None:  # the offline embedder loads on a thread of its own (~1.6 s)
        try:
            await loading()
        except MemoryUnavailable as exc:
            ctx.health.set(NAME, ComponentState.FAILED, str(exc))
            memory.failed(str(exc))
            return
    memory.attach(store, embedder)  # now memory answers, without waiting on the model
    ctx.health.set(NAME, ComponentState.READY)


def _embedder(ctx: Context) -> Embedder:
    from assistant.memory.embedder import LocalEmbedder, OpenAIEmbedder

    config = ctx.config.memory
    if config.embedder == "openai":
        return OpenAIEmbedder(ctx.session, config.embeddings)
    local = LocalEmbedder()  # starts loading when first used, after the store opened
    ctx.stack.callback(local.close)
    return local


def __getattr__(name: str) -> object:
    if name == "CLI":  # the command line, imported only by the command line
        from assistant.features.memory.cli import MEMORY

        return (MEMORY,)
    if name == "CHECKS":  # the doctor's, imported only by the doctor
        from assistant.features.memory.checks import CHECKS

        return CHECKS
    raise AttributeError(name)
