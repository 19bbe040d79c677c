"""The pure parts of sending pictures and files: how a file goes on a platform, the line that
stands in for one it will not take (in both languages), safe names, saving at a terminal."""

from __future__ import annotations

import io

import pytest

from assistant.channels.console import ConsoleChannel
from assistant.channels.outfiles import (
    FileLimits,
    human_size,
    save_new,
    send_as,
    too_large_line,
    upload_name,
)
from assistant.core import i18n
from assistant.core.messages import ChatRef, OutboundMessage, OutFile
from assistant.tools.files import file_name

LIMITS = FileLimits("Telegram", image=10, document=20)


@pytest.mark.parametrize(
    ("kind", "size", "how"),
    [
        ("image", 10, "image"),
        ("image", 11, "document"),
        ("document", 5, "document"),
        ("image", 21, None),
        ("document", 21, None),
    ],
)
def test_a_file_goes_as_a_picture_a_file_or_not_at_all(kind, size, how):
    assert send_as(OutFile("x", b"\0" * size, "image/png", kind), LIMITS) == how


def test_the_line_for_a_file_too_large_names_it_in_the_readers_language():
    file = OutFile("dump.bin", b"\0" * 3 * 1024 * 1024, "application/octet-stream")
    limits = FileLimits("Telegram", image=1024 * 1024, document=2 * 1024 * 1024)
    assert too_large_line(file, limits) == (
        "📎 dump.bin (3 MB) was not sent: Telegram takes files up to 2 MB."
    )
    with i18n.using("zh_CN"):
        assert (
            too_large_line(file, limits)
            == "📎 dump.bin（3 MB）未发送：Telegram 只接收不超过 2 MB 的文件。"
        )


@pytest.mark.parametrize(
    ("size", "shown"), [(0, "0 B"), (1023, "1023 B"), (2048, "2 KB"), (1536 * 1024, "1.5 MB")]
)
def test_sizes_read_as_people_read_them(size, shown):
    assert human_size(size) == shown


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("report.md", "report.md"),
        ("../../etc/cron.d/x.CSV", "etc_cron.d_x.csv"),
        ("周报.txt", "周报.txt"),
        ("run.sh", None),
        (".csv", None),
        ("notes", None),
        ("a\x00b\r\n.txt", "a_b_.txt"),
    ],
)
def test_the_model_names_only_safe_files_of_known_kinds(given, name):
    assert file_name(given) == name


def test_upload_names_have_no_directories_or_control_characters():
    assert upload_name("a/b\\c\r\nd.txt") == "a_b_c__d.txt"
    assert upload_name("  ") == "file"


def test_saving_never_overwrites(tmp_path):
    first = save_new(tmp_path, "../chart.png", b"1")
    second = save_new(tmp_path, "chart.png", b"2")
    assert (first.name, second.name) == ("chart.png", "chart (1).png")
    assert first.read_bytes() == b"1" and second.read_bytes() == b"2"


async def test_the_standalone_terminal_saves_files_and_prints_where(tmp_path):
    async def idle(key: str) -> None:
        return None

    out = io.StringIO()
    channel = ConsoleChannel(wait_idle=idle, lines=[], stdout=out, downloads=tmp_path)
    file = OutFile("notes.txt", b"hello", "text/plain")
    await channel.send(OutboundMessage(ChatRef("console", "local"), "Here.", files=(file,)))
    assert (tmp_path / "notes.txt").read_bytes() == b"hello"
    assert out.getvalue().splitlines() == [
        f"📎 notes.txt saved to {tmp_path / 'notes.txt'}",
        "Here.",
    ]
