"""Pictures and files in a reply (``OutboundMessage.files``): the parts they make, and the line
of text that stands in for one the platform will not take.

A message with files is sent as one part per file, in order, then the text's parts; where the
platform shows a caption under a file and the text fits it (one part, no buttons: a caption
cannot be edited into an approval's outcome — except on Telegram, whose adapter edits captions
too, so an alert's chart and its Acknowledge button are one message), the text is the last
file's caption and makes no part of its own. The plan depends only on the message, so a reply
resumed after a restart cuts into the same parts. A file too large for the platform, or one it
refuses for good, is sent as a line naming it instead: never a lost reply, never a missing
part.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assistant.core.i18n import N_, tr
from assistant.core.messages import OutFile, SentMessage

TOO_LARGE = N_("📎 {name} ({size}) was not sent: {platform} takes files up to {limit}.")
REFUSED = N_("📎 {name} ({size}) could not be sent: {platform} refused it.")

SendOne = Callable[[int], Awaitable[SentMessage | None]]


@dataclass(frozen=True, slots=True)
class FileLimits:
    """What a platform takes, in bytes: a picture shown inline, and any file."""

    platform: str
    image: int
    document: int


def upload_name(name: str) -> str:
    """A file name safe in a multipart header (sent as UTF-8, as platforms expect): no
    directory part, no control characters, nothing that reorders or hides text."""
    clean = "".join(
        "_" if category in ("Cc", "Zl", "Zp") or c in "/\\" else c
        for c in name
        if (category := unicodedata.category(c)) not in ("Cf", "Cs")
    ).strip()
    return clean or "file"


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def send_as(file: OutFile, limits: FileLimits) -> Literal["image", "document"] | None:
    """How to send ``file``: as a picture (an image within the picture limit), as a file
    (within the file limit; a large picture goes as a file), or not at all (None)."""
    size = len(file.data)
    if file.kind == "image" and size <= limits.image:
        return "image"
    return "document" if size <= limits.document else None


def too_large_line(file: OutFile, limits: FileLimits) -> str:
    return tr(TOO_LARGE).format(
        name=file.name,
        size=human_size(len(file.data)),
        platform=limits.platform,
        limit=human_size(limits.document),
    )


def refused_line(file: OutFile, platform: str) -> str:
    return tr(REFUSED).format(name=file.name, size=human_size(len(file.data)), platform=platform)


def caption_of(files: Sequence[OutFile], text_parts: int, has_buttons: bool, fits: bool) -> bool:
    """Whether the text goes as the last file's caption (see the module's docstring)."""
    return bool(files) and text_parts == 1 and not has_buttons and fits


def with_files(
    files: int, send_file: SendOne, texts: int, send_text: SendOne
) -> tuple[int, SendOne]:
    """The parts of a message: ``files`` sent by ``send_file(i)``, then ``texts`` by
    ``send_text(j)``; the total and one ``send_one(index)`` for ``channels.parts.send_parts``."""

    def send_one(index: int) -> Awaitable[SentMessage | None]:
        return send_file(index) if index < files else send_text(index - files)

    return files + texts, send_one


# --- at a terminal (``assistant chat``) --------------------------------------------------------


def downloads_dir() -> Path:
    """Where a terminal saves what it is sent: ~/Downloads, else the current directory."""
    home = Path.home() / "Downloads"
    return home if home.is_dir() else Path.cwd()


def save_new(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``directory/name``, or ``name (1)``, ``name (2)``… when taken: nothing
    is overwritten, and ``name`` loses any directory part. Raises ``OSError``."""
    base = Path(name).name or "file"
    stem, suffix = Path(base).stem, Path(base).suffix
    for n in range(1000):
        path = directory / (base if n == 0 else f"{stem} ({n}){suffix}")
        try:
            with path.open("xb") as out:
                out.write(data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(directory / base)
