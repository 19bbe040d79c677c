"""Our replies → Telegram messages. Pure functions.

The model writes Markdown; Telegram understands a small HTML subset. The Markdown is parsed
with markdown-it (raw HTML disabled, so everything else is escaped) and rendered to that
subset. Long replies are split below Telegram's 4096-character limit (counted in UTF-16 code
units of the visible text) by ``channels.common.split_text``: on block, then line boundaries; a
code block that has to be split is closed and reopened in the next part.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

from assistant.channels.common import split_text
from assistant.core.messages import Button

LIMIT = 4096
CALLBACK_DATA_LIMIT = 64

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
_SAFE_LINK = re.compile(r"^(https?://|tg://|mailto:)", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    parse_mode: Literal["HTML"] | None
    source: str  # the Markdown this part came from, sent as plain text if Telegram refuses


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_len(rendered: str) -> int:
    """Length Telegram counts: the text after entity parsing."""
    return utf16_len(html.unescape(_TAG.sub("", rendered)))


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


class _Renderer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.lists: list[list[int | None]] = []  # per open list: [next number] or [None]
        self.table: list[list[str]] | None = None  # rows of cell texts while in a table

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            self._block(token)
        return re.sub(r"\n{3,}", "\n\n", "".join(self.out)).strip()

    def _block(self, token: Token) -> None:
        kind = token.type
        if kind == "inline":
            self._inline(token.children or [])
        elif kind in ("paragraph_close", "heading_close"):
            if kind == "heading_close":
                self.out.append("</b>")
            self.out.append("\n" if self.lists else "\n\n")
        elif kind == "heading_open":
            self.out.append("<b>")
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = token.attrGet("start")
            self.lists.append(
                [int(start) if start else 1] if kind == "ordered_list_open" else [None]
            )
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            if not self.lists:
                self.out.append("\n")
        elif kind == "list_item_open":
            counter = self.lists[-1]
            indent = "  " * (len(self.lists) - 1)
            if counter[0] is None:
                self.out.append(f"{indent}• ")
            else:
                self.out.append(f"{indent}{counter[0]}. ")
                counter[0] += 1
        elif kind in ("fence", "code_block"):
            language = (token.info or "").strip().split(" ")[0]
            attr = (
                f' class="language-{_escape(language)}"'
                if re.fullmatch(r"[\w+#.-]+", language)
                else ""
            )
            code = _escape(token.content.rstrip("\n"))
            self.out.append(f"<pre><code{attr}>{code}</code></pre>\n\n")
        elif kind == "blockquote_open":
            self.out.append("<blockquote>")
        elif kind == "blockquote_close":
            while self.out and self.out[-1] in ("\n", "\n\n"):
                self.out.pop()
            self.out.append("</blockquote>\n\n")
        elif kind == "hr":
            self.out.append("———\n\n")
        elif kind == "table_open":
            self.table = []
        elif kind == "tr_open" and self.table is not None:
            self.table.append([])
        elif kind == "table_close" and self.table is not None:
            self._table(self.table)
            self.table = None

    def _table(self, rows: list[list[str]]) -> None:
        """Tables become monospaced text: Telegram has no table markup."""
        if not rows:
            return
        widths = [
            max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows)))
        ]
        lines = []
        for index, row in enumerate(rows):
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
            lines.append(" | ".join(cells).rstrip())
            if index == 0:
                lines.append("-+-".join("-" * w for w in widths))
        self.out.append(f"<pre>{_escape(chr(10).join(lines))}</pre>\n\n")

    def _inline(self, children: Sequence[Token]) -> None:
        if self.table is not None:
            if self.table:
                cell = "".join(t.content for t in children if t.type in ("text", "code_inline"))
                self.table[-1].append(cell)
            return
        self.out.append(_inline_html(children))


def _inline_html(children: Sequence[Token]) -> str:
    out: list[str] = []
    links: list[bool] = []
    for token in children:
        kind = token.type
        if kind == "text":
            out.append(_escape(token.content))
        elif kind == "code_inline":
            out.append(f"<code>{_escape(token.content)}</code>")
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "strong_open":
            out.append("<b>")
        elif kind == "strong_close":
            out.append("</b>")
        elif kind == "em_open":
            out.append("<i>")
        elif kind == "em_close":
            out.append("</i>")
        elif kind == "s_open":
            out.append("<s>")
        elif kind == "s_close":
            out.append("</s>")
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            safe = bool(_SAFE_LINK.match(href))
            links.append(safe)
            if safe:
                out.append(f'<a href="{html.escape(href, quote=True)}">')
        elif kind == "link_close":
            if links.pop():
                out.append("</a>")
        elif kind == "image":
            out.append(_escape(token.content or str(token.attrGet("src") or "")))
        else:
            out.append(_escape(token.content))
    return "".join(out)


def markdown_to_html(markdown: str) -> str:
    """Telegram HTML for ``markdown``; every tag balanced, everything else escaped."""
    tokens = _MD.parse(markdown)
    return _Renderer().render(tokens)


# --- splitting -----------------------------------------------------------------------------


def _size(markdown: str) -> int:
    """What a piece costs: the longer of its visible text once rendered and its source (sent
    as plain text when Telegram refuses the entities)."""
    return max(visible_len(markdown_to_html(markdown)), utf16_len(markdown))


def split_markdown(markdown: str, limit: int = LIMIT) -> list[str]:
    """Markdown pieces that each render within ``limit``; blocks kept whole where possible,
    a code block that has to be cut closed and reopened."""
    return split_text(markdown, limit, size=_size)


def render_parts(text: str, fmt: Literal["markdown", "plain"], limit: int = LIMIT) -> list[Part]:
    if fmt == "plain":
        pieces = split_text(text, limit, size=utf16_len, fences=False)
        return [Part(piece, None, piece) for piece in pieces if piece] or [
            Part(text or "…", None, text)
        ]
    parts = []
    for piece in split_markdown(text, limit):
        rendered = markdown_to_html(piece)
        parts.append(Part(rendered or _escape(piece) or "…", "HTML", piece))
    return parts or [Part("…", None, text)]


def inline_keyboard(rows: Sequence[Sequence[Button]]) -> dict[str, Any] | None:
    """Telegram's InlineKeyboardMarkup; action ids must fit callback_data (64 bytes)."""
    if not rows:
        return None
    keyboard = []
    for row in rows:
        line = []
        for button in row:
            if len(button.action_id.encode()) > CALLBACK_DATA_LIMIT:
                raise ValueError(f"action id {button.action_id!r} is longer than 64 bytes")
            line.append({"text": button.label, "callback_data": button.action_id})
        keyboard.append(line)
    return {"inline_keyboard": keyboard}
