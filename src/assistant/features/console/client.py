"""``assistant chat``: the terminal as one more console session of the running daemon.

It talks to the daemon's gateway (``/api/messages``, ``/ws``) with the owner's console token
as a bearer token, so memory, jobs, approvals and ``/run`` are the daemon's. At a terminal,
replies stream as they are written; from a pipe or with ``-m``, each reply is printed whole
once its message is answered. ``/exit`` and ``/quit`` (or end of input) leave. A picture or
file the assistant sends is saved (in ~/Downloads, else the current directory) and its name
and path printed. When the daemon restarts or the network drops, the chat reconnects and
resumes where it was (``link.Link``): no reply missed or shown twice, no message lost.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from assistant.channels.outfiles import downloads_dir, save_new
from assistant.config import Config
from assistant.core.errors import AssistantError
from assistant.features.console.link import PATIENCE, RESUMED, Link

QUIT = frozenset({"/exit", "/quit"})
QUIET = 0.5  # seconds without news that end an answer whose "idle" came before its reply


class DaemonNotRunning(AssistantError):
    """No daemon answers on the gateway (or the config turns the console off)."""


def gateway_url(config: Config) -> str:
    host = config.gateway.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard bind: reach it on loopback
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.gateway.port}"


@dataclass
class Reply:
    text: str = ""
    buttons: list[list[dict[str, str]]] = field(default_factory=list)


class Screen:
    """What the person sees. Streaming (a terminal): a reply's text as it grows; whole (a
    pipe): each reply printed once it is final."""

    def __init__(self, out: TextIO, *, stream: bool) -> None:
        self._out = out
        self._stream = stream
        self._replies: dict[str, Reply] = {}
        self._open: str | None = None  # the message whose line is still being written

    def prompt(self) -> None:
        if self._stream:
            self._end_line()
            self._write("you> ")

    def show(self, push: dict[str, Any]) -> None:
        kind = push.get("type")
        if kind == "file":
            push = {**push, "type": "message", "text": file_line(push)}
            kind = "message"
        if kind == "notice":
            self._end_line()
            self._write(f"{push.get('text', '')}\n")
            return
        if kind not in ("message", "edit"):
            return
        mid = str(push["message_id"])
        before = self._replies.get(mid)
        reply = Reply(str(push.get("text", "")), list(push.get("buttons") or []))
        self._replies[mid] = reply
        if not self._stream:
            return
        if before is not None and self._open == mid and reply.text.startswith(before.text):
            self._write(reply.text[len(before.text) :])
        else:
            self._end_line()
            self._write(f"\rassistant> {reply.text}")
            self._open = mid
        if reply.buttons:
            self._end_line()
            self._buttons(reply.buttons)

    def flush(self) -> None:
        """Print the replies collected so far (whole mode)."""
        if self._stream:
            self._end_line()
            return
        for reply in self._replies.values():
            self._write(reply.text + "\n")
            self._buttons(reply.buttons)
        self._replies.clear()

    @property
    def shown(self) -> int:
        return len(self._replies)

    def _buttons(self, rows: list[list[dict[str, str]]]) -> None:
        for row in rows:
            self._write("  " + "  ".join(f"[{b.get('label', '')}]" for b in row) + "\n")

    def _end_line(self) -> None:
        if self._open is not None:
            self._write("\n")
            self._open = None

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def file_line(push: dict[str, Any]) -> str:
    file = push.get("file") or {}
    name = str(file.get("name", "?"))
    saved = push.get("saved")
    if saved:
        return f"📎 {name} saved to {saved}"
    return f"📎 {name} (not saved: {push.get('error', 'download failed')})"


class ChatClient:
    def __init__(
        self,
        base: str,
        token: str,
        *,
        stdout: TextIO,
        stderr: TextIO | None = None,
        downloads: Path | None = None,
        patience: float = PATIENCE,
    ) -> None:
        self._base = base
        self._token = token
        self._stdout = stdout
        self._stderr = stderr or sys.stderr
        self._downloads = downloads
        self._patience = patience
        self._at_prompt = False  # a terminal: a notice starts a line of its own

    async def _save(self, http: aiohttp.ClientSession, push: dict[str, Any]) -> dict[str, Any]:
        """A ``file`` event with the file saved (``saved``: where) or why not (``error``)."""
        file = push.get("file") or {}
        url = file.get("url")
        if not isinstance(url, str) or not url.startswith("/api/files/"):
            return {**push, "error": "no download address"}
        try:
            async with http.get(self._base + url) as response:
                if response.status != 200:
                    return {**push, "error": f"HTTP {response.status}"}
                data = await response.read()
        except aiohttp.ClientError as exc:
            return {**push, "error": type(exc).__name__}
        directory = self._downloads or downloads_dir()
        try:
            path = save_new(directory, str(file.get("name") or "file"), data)
        except OSError as exc:
            return {**push, "error": exc.strerror or "cannot write"}
        return {**push, "saved": str(path)}

    async def run(
        self, *, message: str | None = None, stdin: TextIO | None = None, banner: str = ""
    ) -> int:
        headers = {"Authorization": f"Bearer {self._token}"}
        timeout = aiohttp.ClientTimeout(total=None, connect=5)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
            me = await self._me(http)
            link = Link(self._base, http, say=self._notice, patience=self._patience)
            try:
                await link.open(me["last_event"])
                if message is not None:
                    screen = Screen(self._stdout, stream=False)
                    await self._answer(http, link, self._message(message), screen)
                    return 0
                return await self._converse(http, link, stdin or sys.stdin, banner)
            finally:
                await link.aclose()

    def _notice(self, text: str) -> None:
        self._stderr.write(("\n" if self._at_prompt else "") + text + "\n")
        self._stderr.flush()

    async def _me(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        try:
            async with http.get(f"{self._base}/api/me") as response:
                if response.status in (401, 403):
                    error = (await response.json()).get("error", "refused")
                    raise AssistantError(f"the daemon refused the console token: {error}")
                if response.status == 404:
                    raise DaemonNotRunning("the daemon's console is off ([console] enabled)")
                response.raise_for_status()
                body: dict[str, Any] = await response.json()
                return body
        except aiohttp.ClientConnectorError as exc:
            raise DaemonNotRunning(f"nothing answers at {self._base}") from exc

    @staticmethod
    def _message(text: str) -> dict[str, Any]:
        """A message to post; its ``client_id`` makes sending it again harmless."""
        return {"text": text, "client_id": uuid.uuid4().hex}

    async def _answer(
        self, http: aiohttp.ClientSession, link: Link, message: dict[str, Any], screen: Screen
    ) -> None:
        """Send ``message`` and show events until it is answered: idle after a reply (or a
        reply after idle, then a moment of quiet). After a reconnect the message is posted
        again (the daemon takes it once): what the daemon had not taken is taken, and the
        idle that the drop lost is sent again."""
        await link.post(message)
        idle = False
        while True:
            try:
                push = await (asyncio.wait_for(link.next(), QUIET) if idle else link.next())
            except TimeoutError:
                if screen.shown:
                    break
                continue
            except AssistantError:
                screen.flush()
                raise
            if push is RESUMED:
                await link.post(message)
                continue
            if push.get("type") == "file":
                push = await self._save(http, push)
            screen.show(push)
            if push.get("type") == "idle":
                idle = True
                if screen.shown:
                    break
        screen.flush()

    async def _converse(
        self, http: aiohttp.ClientSession, link: Link, stdin: TextIO, banner: str
    ) -> int:
        interactive = self._at_prompt = stdin.isatty()
        screen = Screen(self._stdout, stream=interactive)
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def reader() -> None:  # a daemon thread: a blocked read never holds up exit
            for raw in stdin:
                loop.call_soon_threadsafe(lines.put_nowait, raw)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=reader, name="chat-stdin", daemon=True).start()
        if interactive:
            self._stdout.write(banner + "\n")
            screen.prompt()
        while True:
            if not interactive:  # a script's lines are answered in order
                line = await link.unless_broken(lines.get())
                if line is None or line.strip() in QUIT:
                    return 0
                if line.strip():
                    await self._answer(http, link, self._message(line.strip()), screen)
                continue
            line_task = asyncio.ensure_future(lines.get())
            push_task = asyncio.ensure_future(link.next())
            done, _ = await asyncio.wait(
                {line_task, push_task}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (line_task, push_task):
                if task not in done:
                    task.cancel()
            if push_task in done:
                try:
                    push = push_task.result()
                except AssistantError:
                    screen.flush()
                    raise
                if push.get("type") == "file":
                    push = await self._save(http, push)
                screen.show(push)
                if push.get("type") == "idle" or push is RESUMED:
                    screen.prompt()
            if line_task in done:
                line = line_task.result()
                if line is None or line.strip() in QUIT:
                    screen.flush()
                    return 0
                if line.strip():
                    await link.post(self._message(line.strip()))
                else:
                    screen.prompt()


async def chat(
    config: Config,
    token: str,
    *,
    message: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Talk to the running daemon; ``DaemonNotRunning`` when none answers."""
    if not config.gateway.enabled or config.console.enabled is False:
        raise DaemonNotRunning("the config turns the gateway or the console off")
    base = gateway_url(config)
    name = config.assistant.name
    banner = f"{name} at {base} (the running daemon) · /exit or /quit (or Ctrl-D) to leave"
    client = ChatClient(base, token, stdout=stdout or sys.stdout)
    return await client.run(message=message, stdin=stdin, banner=banner)
