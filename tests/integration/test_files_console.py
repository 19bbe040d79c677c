"""Pictures and files out on the console: stored for the person's clients (bounded), offered
as a ``file`` event over /ws with an authenticated download address, and saved by
``assistant chat`` (its client, in this process) with its name and path printed."""

from __future__ import annotations

import asyncio
import io

import aiohttp

from assistant.core.messages import ChatRef, OutFile
from assistant.core.roles import Role
from assistant.features.console.client import ChatClient
from assistant.store.console import ConsoleTokens
from tests.fakes.model import FakeModel, Reply
from tests.helpers import png_bytes
from tests.integration.test_console_api import (
    ENV,
    base,
    bearer,
    clock,
    daemon,
    start_daemon,
    texts,
    until_idle,
)
from tests.integration.test_daemon import write_config

__all__ = ["clock", "daemon"]  # fixtures


async def test_a_file_event_and_its_download_for_its_person_only(daemon, fake_model: FakeModel):
    url = base(daemon)
    fake_model.script.extend(
        [
            Reply(tool_calls=[("send_file", {"name": "report.md", "content": "# Report\nok"})]),
            Reply(text="The report is attached."),
        ]
    )
    async with aiohttp.ClientSession(headers=bearer()) as http:
        async with http.ws_connect(url + "/ws") as ws:
            assert (await ws.receive_json())["type"] == "ready"
            async with http.post(url + "/api/messages", json={"text": "a report"}) as r:
                assert r.status == 202
            events = await until_idle(ws)
        # the console streams: the answer's preview, the file below it, the preview's edits
        [shown] = [e for e in events if e["type"] == "file"]
        assert texts(events) == ["The report is attached."]
        file = shown["file"]
        assert (file["name"], file["size"], file["kind"]) == ("report.md", 11, "document")
        async with http.get(url + file["url"]) as r:
            assert r.status == 200 and await r.read() == b"# Report\nok"
            assert r.headers["Content-Type"] == "application/octet-stream"  # never a page
            assert r.headers["Content-Disposition"].startswith("attachment;")
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    token = await ConsoleTokens(daemon.services.db).create("bob", Role.USER, by="test")
    async with aiohttp.ClientSession() as http:
        async with http.get(url + file["url"]) as r:
            assert r.status == 401
        async with http.get(url + file["url"], headers=bearer(token)) as r:
            assert r.status == 404  # another person's file does not exist for them


async def test_the_terminal_saves_what_it_is_sent(tmp_path, fake_model: FakeModel, clock):
    config = write_config(
        tmp_path / "config.toml",
        tmp_path / "state",
        fake_model.base_url,
        console={"token": "${ASSISTANT_CONSOLE_TOKEN:-}", "max_file_mb": 1},
    )
    d, task = await start_daemon(config, ENV, clock)
    try:
        chart = OutFile("chart.png", png_bytes(3, 3), "image/png", "image")
        big = OutFile("big.log", b"x" * (1024 * 1024 + 1), "text/plain")
        (tmp_path / "dl").mkdir()
        (tmp_path / "dl" / "chart.png").write_bytes(b"an older chart")

        hold = asyncio.Event()
        fake_model.script.append(Reply(text="Sent you the chart.", hold=hold))
        out = io.StringIO()
        token = ENV["ASSISTANT_CONSOLE_TOKEN"]
        client = ChatClient(base(d), token, stdout=out, downloads=tmp_path / "dl")
        chatting = asyncio.create_task(client.run(message="the chart please"))
        async with asyncio.timeout(10):
            while not fake_model.requests:
                await asyncio.sleep(0.01)
        await d.services.router.notify(ChatRef("console", "local"), "", files=(chart, big))
        hold.set()
        assert await chatting == 0
        saved = tmp_path / "dl" / "chart (1).png"
        assert saved.read_bytes() == chart.data  # the older one is left alone
        assert (tmp_path / "dl" / "chart.png").read_bytes() == b"an older chart"
        lines = out.getvalue().splitlines()
        assert f"📎 chart.png saved to {saved}" in lines
        assert any("big.log (1 MB) was not sent" in line for line in lines)
        assert lines[-1] == "Sent you the chart."
    finally:
        d.stop()
        assert await task == 0
