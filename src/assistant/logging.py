"""Logging: structlog, JSON lines to stdout (journald) or a console renderer on a TTY.

Our own events go through structlog directly; the stdlib loggers of the libraries (aiohttp,
aiogram, Lark, asyncssh, apscheduler) go through the same processors via
``ProcessorFormatter``. Redaction is the last step before rendering, for both.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import Processor

from assistant.core.redact import Redactor

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR

# Libraries that narrate every request at INFO; their warnings still come through.
_CHATTY = (
    "aiohttp.access",
    "aiogram.event",
    "asyncssh",
    "apscheduler",
    "chromadb",
    "httpx",
    "markdown_it",
    "websockets",
)


class RedactProcessor:
    """structlog processor masking secrets in every key and string of the event."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return self.redactor.mapping(event)


def setup_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    redactor: Redactor,
    stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    """Configure structlog and the stdlib root logger. Call once, before the first log call."""
    stream = stream or sys.stdout
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    levelno = _LEVELS.get(level, logging.INFO)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    tail: list[Processor] = [
        ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if as_json
        else structlog.processors.format_exc_info,
        RedactProcessor(redactor),
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty()),
    ]

    structlog.reset_defaults()
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *tail],
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=cache,
    )

    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(levelno)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(levelno, logging.WARNING))
    logging.captureWarnings(True)
