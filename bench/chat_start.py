"""How long `assistant chat` takes from start to its prompt, and to a one-shot reply (`-m`),
against a running daemon (`assistant run` as a process, a fake model on loopback).

    .venv/bin/python -m bench.chat_start [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import tomli_w
from tests.fakes.model import FakeModel
from tests.helpers import free_port

TOKEN = "bench-console-token-0123456789abcdef"


async def to_prompt(config: Path, env: dict[str, str]) -> float:
    """Seconds from spawning `assistant chat` at a terminal (a pty) to its `you> ` prompt."""
    main, child = pty.openpty()
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "chat",
        "--config",
        str(config),
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
    )
    os.close(child)
    seen = b""
    loop = asyncio.get_running_loop()
    while b"you> " not in seen:
        seen += await loop.run_in_executor(None, os.read, main, 4096)
    took = time.perf_counter() - started
    os.write(main, b"/exit\n")
    await proc.wait()
    os.close(main)
    return took


async def one_shot(config: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "chat",
        "--config",
        str(config),
        "-m",
        "hello",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    out, _ = await proc.communicate()
    assert out == b"echo: hello\n", out
    return time.perf_counter() - started


async def main(runs: int) -> dict[str, list[float]]:
    model = await FakeModel().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            config = Path(tmp) / "config.toml"
            config.write_text(
                tomli_w.dumps(
                    {
                        "assistant": {"state_dir": f"{tmp}/state"},
                        "gateway": {"port": port},
                        "console": {"token": "${ASSISTANT_CONSOLE_TOKEN}"},
                        "models": [{"name": "m", "base_url": model.base_url, "model": "fake"}],
                        "memory": {"enabled": False},
                    }
                )
            )
            env = {**os.environ, "ASSISTANT_CONSOLE_TOKEN": TOKEN, "ASSISTANT_ENV_FILE": ""}
            daemon = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "assistant",
                "run",
                "--config",
                str(config),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=env,
            )
            try:
                async with aiohttp.ClientSession() as http:
                    for _ in range(300):
                        try:
                            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                                if r.status == 200:
                                    break
                        except aiohttp.ClientConnectorError:
                            pass
                        await asyncio.sleep(0.05)
                prompt = [await to_prompt(config, env) for _ in range(runs)]
                reply = [await one_shot(config, env) for _ in range(runs)]
            finally:
                daemon.terminate()
                await daemon.wait()
    finally:
        await model.close()
    return {"start_to_prompt_s": prompt, "one_shot_reply_s": reply}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    result = asyncio.run(main(parser.parse_args().runs))
    for name, values in result.items():
        print(
            f"{name:20} median {statistics.median(values):.3f}  min {min(values):.3f}  "
            f"max {max(values):.3f}"
        )
    print(json.dumps(result))
