"""send_file: the model hands the person a file it wrote (a report, a table), sent with its reply.

The file joins the turn's reply (``ToolContext.attach``): it is stored with the reply and sent
before its text, part of the reply's delivery record, so a restart neither loses nor repeats
it. Its content passes the secret redactor first, like every tool result, and a table's
columns whose header names a secret are masked whole.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable

from pydantic import BaseModel, Field

from assistant.core.messages import OutFile
from assistant.core.redact import MASK, Redactor, is_secret_key
from assistant.core.roles import Permission
from assistant.core.tools import ToolContext, ToolResult

# what the model may write, by extension; CSV gets a byte order mark so that spreadsheet
# programs read it as UTF-8 (Chinese text in Excel)
KINDS = {
    "md": "text/markdown",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "log": "text/plain",
    "json": "application/json",
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
# not shown, or shown as something else: bidi overrides and isolates, zero-width characters,
# private use and unassigned code points; line and paragraph separators become "_"
_HIDDEN = frozenset({"Cf", "Cs", "Co", "Cn"})
_BREAKS = frozenset({"Cc", "Zl", "Zp"})


class SendFileParams(BaseModel):  # every byte of the schema is sent with every turn
    name: str = Field(min_length=1, max_length=200)
    content: str


def file_name(name: str) -> str | None:
    """A safe name (no directories, no control characters, nothing that reorders or hides
    text, at most 100 characters) with a known extension, or None."""
    shown = "".join(
        "_" if category in _BREAKS else " " if category == "Zs" else c
        for c in unicodedata.normalize("NFC", name)
        if (category := unicodedata.category(c)) not in _HIDDEN
    )
    clean = _UNSAFE.sub("_", " ".join(shown.split())).strip(" ._")
    stem, dot, extension = clean.rpartition(".")
    stem = stem[: 100 - len(extension) - 1].rstrip(" ._")
    if not dot or not stem or extension.lower() not in KINDS:
        return None
    return f"{stem}.{extension.lower()}"


def masked_table(text: str, delimiter: str) -> str:
    """A CSV or TSV table with the cells of each column whose header names a secret
    (``password``, ``API Key``, ``db_token``…) masked; as written when it has none."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return text
    header = rows[0] if rows else []
    hidden = {i for i, h in enumerate(header) if is_secret_key(re.sub(r"[\s.]+", "_", h.strip()))}
    if not hidden:
        return text
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows[1:]:
        writer.writerow([MASK if i in hidden and cell else cell for i, cell in enumerate(row)])
    return out.getvalue()


class SendFileTool:
    name = "send_file"
    description = "Attach a file you wrote to your reply (name: report.md, data.csv, notes.txt)."
    permission = Permission.CHAT
    side_effects = False  # nothing leaves before the reply does
    Params = SendFileParams

    def __init__(self, redactor: Redactor, max_bytes: Callable[[], int]) -> None:
        self._redactor = redactor
        self._max_bytes = max_bytes

    async def call(self, params: SendFileParams, ctx: ToolContext) -> ToolResult:
        if ctx.attach is None:
            return ToolResult.error("Files cannot be sent from here; put the content in the reply.")
        name = file_name(params.name)
        if name is None:
            known = ", ".join(f".{k}" for k in KINDS)
            return ToolResult.error(f"Give the file a name ending in one of: {known}.")
        extension = name.rpartition(".")[2]
        text = self._redactor.text(params.content)
        if self._redactor.disguised(text):
            return ToolResult.error(
                "This file holds a secret of the assistant's configuration (cut up or encoded); "
                "it was not sent. Leave the secret out."
            )
        if extension in ("csv", "tsv"):
            text = masked_table(text, "," if extension == "csv" else "\t")
        data = text.encode()
        if extension == "csv":
            data = b"\xef\xbb\xbf" + data
        limit = self._max_bytes()
        if len(data) > limit:
            return ToolResult.error(
                f"The file is {len(data)} bytes; at most {limit} may be sent. Shorten it or "
                "split it into several files."
            )
        if not ctx.attach(OutFile(name, data, KINDS[extension], "document")):
            return ToolResult.error("This reply already carries as many files as it may.")
        return ToolResult(f"{name} ({len(data)} bytes) will be sent with your reply.")
