"""A fake Telegram Bot API server on 127.0.0.1, built from the Bot API documentation
(https://core.telegram.org/bots/api): getMe, getUpdates (offset confirmation, long-poll
timeout, 409 while a webhook is set), sendMessage (HTML entities validated, 4096-character
limit), sendPhoto and sendDocument (multipart uploads: a photo must be a PNG or JPEG within
10 MB and 10000 px width plus height, a document at most 50 MB, a caption at most 1024
characters), editMessageText (not of a photo or document: "there is no text in the message to
edit"), editMessageCaption, sendChatAction, answerCallbackQuery, setMyCommands,
setWebhook/deleteWebhook/getWebhookInfo, getFile and file download (``add_file``; with
``announce=False`` the size is neither in getFile's answer nor in a Content-Length: the file
is streamed in chunks, and ``served`` counts the bytes that went out) — plus injectable
failures (any status with ``retry_after``, for a method or ``"file"`` downloads; hanging
getUpdates; refused connections), and outages of
the whole API (``begin_outage``: 502s, 429s with ``retry_after``, or requests that hang until
it ends; ``refuse_connections``: nothing listens on the port).

Tests create users' messages with ``user_message``/``press``/``photo``... (or ``push_json``:
an update as raw JSON text, for what ``json.dumps`` would refuse to write) and read what the
bot did from ``sent``, ``edits``, ``actions``, ``callback_answers``; ``history(chat_id)`` is a
chat as its user sees it: the bot's messages in order, each with every text it showed
(``versions``: as sent, then after each edit). ``available_at`` records
when each update became available to getUpdates (``time.monotonic()``), and ``on_sent``
callbacks see every message as it is sent: the benchmarks measure latency between the two.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
}


class _EntityChecker(HTMLParser):
    """Telegram's HTML rules: known tags only, properly nested, all closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS and self.error is None:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            if self.error is None:
                self.error = f'Unmatched end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> tuple[str | None, str]:
    checker = _EntityChecker()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return checker.error, "".join(checker.text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class SentFile:
    kind: str  # "photo" | "document"
    name: str
    mime_type: str
    data: bytes = field(repr=False)


@dataclass
class Sent:
    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    reply_to: int | None
    thread_id: int | None
    at: float = field(default_factory=time.monotonic)
    versions: list[str] = field(default_factory=list)  # the text as sent, then each edit
    file: SentFile | None = None  # sendPhoto/sendDocument: ``text`` is the caption

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions.append(self.text)


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class FakeBotAPI:
    def __init__(self, token: str = "123456789:AAHfakeTokenForTestsOnly0123456789ab") -> None:
        self.token = token
        self.bot = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Assistant",
            "username": "assistant_test_bot",
        }
        self.updates: list[dict[str, Any]] = []
        self.confirmed_offset = 0
        self.sent: list[Sent] = []
        self.edits: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []  # the menu without a language
        self.menus: dict[str | None, list[dict[str, Any]]] = {}  # by language_code
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.unannounced: set[str] = set()  # file ids whose size is not told
        self.served: dict[str, int] = {}  # file path -> bytes sent by its last download
        self.downloads: list[str] = []  # file paths asked for, in order
        self.failures: dict[str, deque[Failure]] = {}
        self.blocked_chats: set[int] = set()
        self.hang_get_updates = False
        self.send_delay = 0.0  # seconds sendMessage takes before it answers
        self.outage: str | None = None  # "5xx", "429" or "hang": every method, until ended
        self.outage_retry_after = 5
        self._outage_over = asyncio.Event()
        self.get_updates_completed = 0
        self.available_at: dict[int, float] = {}  # update_id -> time.monotonic()
        self.on_sent: list[Callable[[Sent], None]] = []
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, port: int = 0) -> FakeBotAPI:
        app = web.Application(client_max_size=128 * 1024 * 1024)  # uploads
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the port chosen for port 0
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def begin_outage(self, kind: str, *, retry_after: int = 5) -> None:
        """Every method answers 502 (``"5xx"``), 429 with ``retry_after`` (``"429"``), or
        hangs until the outage ends (``"hang"``), as Telegram does during its outages."""
        if kind not in ("5xx", "429", "hang"):
            raise ValueError(kind)
        self.outage, self.outage_retry_after = kind, retry_after
        self._outage_over.clear()

    def end_outage(self) -> None:
        self.outage = None
        self._outage_over.set()

    async def refuse_connections(self) -> None:
        """Stop listening (open connections are closed): clients get "connection refused"."""
        await self.stop()

    async def accept_connections(self) -> None:
        """Listen again on the same port; updates and sent messages are kept."""
        await self.start(self.port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[Sent]:
        await self.wait_for(lambda: len(self.sent) >= count, timeout)
        return self.sent

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        queue = self.failures.setdefault(method, deque())
        for _ in range(times):
            queue.append(Failure(status, description, retry_after))

    # --- building updates ----------------------------------------------------------------

    def user(self, user_id: int, name: str = "Ann", username: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": name,
            "language_code": "en",
        }
        if username:
            out["username"] = username
        return out

    def chat(self, chat_id: int, kind: str | None = None, title: str = "Ops") -> dict[str, Any]:
        kind = kind or ("private" if chat_id > 0 else "supergroup")  # Telegram's id convention
        if kind == "private":
            return {"id": chat_id, "type": "private", "first_name": "Ann"}
        return {"id": chat_id, "type": kind, "title": title}

    def message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        chat_type: str = "private",
        **extra: Any,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": self.user(user_id),
            "chat": self.chat(chat_id, chat_type),
            "date": int(time.time()),
        }
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                msg["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
                ]
        msg.update(extra)
        return msg

    async def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        await self.push_raw(update)
        return update

    async def user_message(
        self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private", **extra: Any
    ) -> dict[str, Any]:
        return await self.push(
            "message", self.message(chat_id, user_id, text, chat_type=chat_type, **extra)
        )

    async def push_raw(self, update: dict[str, Any]) -> None:
        if isinstance(update.get("update_id"), int):
            self.available_at[update["update_id"]] = time.monotonic()
        self.updates.append(update)
        await self._notify()

    async def push_json(self, text: str) -> int:
        """An update written as raw JSON (deep nesting, numbers json.dumps would not write);
        it must begin with ``{"update_id": N``. Returns N."""
        update_id = int(text.split(":", 1)[1].split(",", 1)[0])
        await self.push_raw({"update_id": update_id, "raw": text})
        return update_id

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def shown(self, chat_id: int, text: str) -> Sent:
        """A message the bot sent earlier (say, before a crash), now in the chat."""
        sent = Sent(chat_id, next(self._ids), text, None, None, None, None)
        self.sent.append(sent)
        return sent

    def history(self, chat_id: int) -> list[Sent]:
        """The bot's messages in one chat, in order, as the user sees them."""
        return [s for s in self.sent if s.chat_id == chat_id]

    def add_file(self, data: bytes, path: str, *, announce: bool = True) -> str:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = (path, data)
        if not announce:
            self.unannounced.add(file_id)
        return file_id

    async def press(self, chat_id: int, user_id: int, data: str, message_id: int) -> dict[str, Any]:
        query = {
            "id": f"cbq-{next(self._ids)}",
            "from": self.user(user_id),
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": message_id,
                "chat": self.chat(chat_id),
                "date": int(time.time()),
                "from": self.bot,
                "text": "…",
            },
        }
        return await self.push("callback_query", query)

    # --- the API -------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
            uploads = {k: v for k, v in form.items() if isinstance(v, web.FileField)}
            if uploads:
                params["_files"] = {
                    k: SentFile(k, v.filename, v.content_type, v.file.read())
                    for k, v in uploads.items()
                }
        for key in ("reply_markup", "reply_parameters", "commands", "allowed_updates"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        if self.outage == "hang":
            await self._outage_over.wait()
        elif self.outage == "5xx":
            return self._error(502, "Bad Gateway")
        elif self.outage == "429":
            retry = self.outage_retry_after
            return self._error(429, f"Too Many Requests: retry after {retry}", retry)
        self.calls.append((method, params))
        queue = self.failures.get(method)
        if queue:
            failure = queue.popleft()
            return self._error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        response: web.StreamResponse = await handler(params)
        return response

    async def _m_getMe(self, params: dict[str, Any]) -> web.Response:
        return self._ok(self.bot)

    async def _m_getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook["url"]:
            return self._error(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            await self._notify()  # a waiter on confirmed_offset need not wait for the poll
        if self.hang_get_updates:
            await asyncio.sleep(3600)
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self.updates and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        self.get_updates_completed += 1
        await self._notify()
        batch = self.updates[: int(params.get("limit") or 100)]
        if not any("raw" in u for u in batch):
            return self._ok(batch)
        items = ",".join(u["raw"] if "raw" in u else json.dumps(u) for u in batch)
        return web.Response(
            text=f'{{"ok":true,"result":[{items}]}}', content_type="application/json"
        )

    def _message_result(self, sent: Sent) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": self.bot,
            "chat": self.chat(sent.chat_id),
            "date": int(time.time()),
            "text": sent.text,
        }
        if sent.reply_markup:
            result["reply_markup"] = sent.reply_markup
        return result

    def _check_text(self, text: str, parse_mode: str | None) -> tuple[str | None, str]:
        plain = text
        if parse_mode == "HTML":
            error, plain = check_html(text)
            if error:
                return f"Bad Request: can't parse entities: {error}", plain
        if not plain.strip():
            return "Bad Request: message text is empty", plain
        if utf16_len(plain) > 4096:
            return "Bad Request: message is too long", plain
        return None, plain

    async def _m_sendMessage(self, params: dict[str, Any]) -> web.Response:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        text = str(params.get("text", ""))
        error, _ = self._check_text(text, params.get("parse_mode"))
        if error:
            return self._error(400, error)
        reply = params.get("reply_parameters") or {}
        sent = Sent(
            chat_id=chat_id,
            message_id=next(self._ids),
            text=text,
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            reply_to=int(reply["message_id"]) if reply.get("message_id") else None,
            thread_id=int(params["message_thread_id"]) if params.get("message_thread_id") else None,
        )
        self.sent.append(sent)
        for callback in self.on_sent:
            callback(sent)
        await self._notify()
        return self._ok(self._message_result(sent))

    async def _send_file(self, params: dict[str, Any], kind: str) -> web.Response:
        upload = (params.get("_files") or {}).get(kind)
        if not isinstance(upload, SentFile):
            return self._error(400, f"Bad Request: there is no {kind} in the request")
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            return self._error(403, "Forbidden: bot was blocked by the user")
        limit = 10 if kind == "photo" else 50
        if len(upload.data) > limit * 1024 * 1024:
            return self._error(413, "Request Entity Too Large")
        if kind == "photo":
            problem = photo_problem(upload.data)
            if problem:
                return self._error(400, f"Bad Request: {problem}")
        caption = str(params.get("caption", ""))
        if caption:
            error, plain = self._check_text(caption, params.get("parse_mode"))
            if error and "too long" not in error:
                return self._error(400, error.replace("message text", "caption"))
            if utf16_len(plain) > 1024:
                return self._error(400, "Bad Request: message caption is too long")
        reply = params.get("reply_parameters") or {}
        sent = Sent(
            chat_id=chat_id,
            message_id=next(self._ids),
            text=caption,
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            reply_to=int(reply["message_id"]) if reply.get("message_id") else None,
            thread_id=int(params["message_thread_id"]) if params.get("message_thread_id") else None,
            file=SentFile(kind, upload.name, upload.mime_type, upload.data),
        )
        self.sent.append(sent)
        for callback in self.on_sent:
            callback(sent)
        await self._notify()
        result = self._message_result(sent)
        result.pop("text")
        result["caption"] = caption
        return self._ok(result)

    async def _m_sendPhoto(self, params: dict[str, Any]) -> web.Response:
        return await self._send_file(params, "photo")

    async def _m_sendDocument(self, params: dict[str, Any]) -> web.Response:
        return await self._send_file(params, "document")

    async def _m_editMessageText(self, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text", ""))
        error, _ = self._check_text(text, params.get("parse_mode"))
        if error:
            return self._error(400, error)
        message_id = int(params["message_id"])
        target = next((s for s in self.sent if s.message_id == message_id), None)
        if target is None:
            return self._error(400, "Bad Request: message to edit not found")
        if target.file is not None:  # a photo or document: editMessageCaption
            return self._error(400, "Bad Request: there is no text in the message to edit")
        if target.text == text and target.reply_markup == params.get("reply_markup"):
            return self._error(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same",
            )
        await self._apply_edit(target, text, params)
        return self._ok(self._message_result(target))

    async def _apply_edit(self, target: Sent, text: str, params: dict[str, Any]) -> None:
        target.text = text
        target.versions.append(text)
        target.parse_mode = params.get("parse_mode")
        target.reply_markup = params.get("reply_markup")
        self.edits.append(params)
        await self._notify()

    async def _m_editMessageCaption(self, params: dict[str, Any]) -> web.Response:
        caption = str(params.get("caption", ""))
        message_id = int(params["message_id"])
        target = next((s for s in self.sent if s.message_id == message_id), None)
        if target is None:
            return self._error(400, "Bad Request: message to edit not found")
        if target.file is None:
            return self._error(400, "Bad Request: there is no caption in the message to edit")
        error, plain = self._check_text(caption, params.get("parse_mode"))
        if error and "empty" not in error and "too long" not in error:
            return self._error(400, error.replace("message text", "caption"))
        if utf16_len(plain) > 1024:
            return self._error(400, "Bad Request: message caption is too long")
        if target.text == caption and target.reply_markup == params.get("reply_markup"):
            return self._error(400, "Bad Request: message is not modified")
        await self._apply_edit(target, caption, params)
        result = self._message_result(target)
        result.pop("text")
        result["caption"] = caption
        return self._ok(result)

    async def _m_sendChatAction(self, params: dict[str, Any]) -> web.Response:
        self.actions.append(params)
        await self._notify()
        return self._ok(True)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        self.callback_answers.append(params)
        await self._notify()
        return self._ok(True)

    async def _m_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        commands = list(params.get("commands") or [])
        language = params.get("language_code")
        self.menus[language] = commands
        if language is None:
            self.commands = commands
        return self._ok(True)

    async def _m_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {
            "url": params.get("url", ""),
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
        }
        return self._ok(True)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {"url": ""}
        return self._ok(True)

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> web.Response:
        return self._ok(
            {
                "url": self.webhook["url"],
                "has_custom_certificate": False,
                "pending_update_count": len(self.updates),
            }
        )

    async def _m_getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return self._error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        result: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
        if file_id not in self.unannounced:
            result["file_size"] = len(data)
        return self._ok({**result, "file_path": path})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        path = request.match_info["path"]
        self.downloads.append(path)
        queue = self.failures.get("file")
        if queue:
            failure = queue.popleft()
            return self._error(failure.status, failure.description, failure.retry_after)
        for file_id, (stored_path, data) in self.files.items():
            if stored_path == path:
                if file_id in self.unannounced:
                    return await self._stream(request, path, data)
                return web.Response(body=data)
        return self._error(404, "Not Found")

    async def _stream(self, request: web.Request, path: str, data: bytes) -> web.StreamResponse:
        """Chunked, no Content-Length: the client learns the size only as it reads."""
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        self.served[path] = 0
        step = 64 * 1024
        for start in range(0, len(data), step):
            await response.write(data[start : start + step])
            self.served[path] += len(data[start : start + step])
        await response.write_eof()
        return response

    # --- webhook delivery ----------------------------------------------------------------

    async def deliver_webhook(
        self,
        session,
        update: dict[str, Any] | str,
        *,  # type: ignore[no-untyped-def]
        secret: str | None = None,
    ) -> int:
        """POST one update (or raw JSON text) to the registered webhook, as Telegram does;
        returns the status."""
        headers = {"Content-Type": "application/json"}
        token = self.webhook.get("secret_token") if secret is None else secret
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        body = update if isinstance(update, str) else json.dumps(update)
        async with session.post(self.webhook["url"], data=body, headers=headers) as response:
            return int(response.status)


def photo_problem(data: bytes) -> str | None:
    """What Telegram says about a photo it cannot take (None: it takes it)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return "PHOTO_INVALID_DIMENSIONS" if width + height > 10000 else None
    if data.startswith(b"\xff\xd8\xff"):
        return None
    return "IMAGE_PROCESS_FAILED"


def escape(text: str) -> str:
    return html.escape(text, quote=False)
