"""The pure parts of sending pictures and files: how a file goes on a platform, the line that
stands in for one it will not take (in both languages), safe names, saving at a terminal."""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from assistant.tools.files import KINDS, file_name

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
        ("a\x00b\r\n.txt", "a_b.txt"),
        ("invoice\u202etxt.exe.md", "invoicetxt.exe.md"),  # no right-to-left override
        ("x" * 150 + ". .csv", "x" * 96 + ".csv"),
    ],
)
def test_the_model_names_only_safe_files_of_known_kinds(given, name):
    assert file_name(given) == name


def test_upload_names_have_no_directories_or_control_characters():
    assert upload_name("a/b\\c\r\nd.txt") == "a_b_c__d.txt"
    assert upload_name("  ") == "file"
    assert upload_name("inv\u202efdp.exe\u2028\x85") == "invfdp.exe__"


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


_SHOWN_BADLY = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # controls, bidi, separators


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.characters(codec="utf-8")
        | st.sampled_from(["\u202e", "\u200b", "\ufeff", "\u2028", "\x7f", ".", "/", "\\", ":"]),
        min_size=1,
        max_size=200,
    ),
    st.sampled_from(["md", "CSV", "txt", "json", "exe", ""]),
)
def test_a_file_name_the_model_gives_is_shown_as_it_is(stem, extension):
    """Whatever the model names a file: nothing that moves or hides text (a right-to-left
    override making ``x\\u202etxt.exe.md`` read as ``xdm.exe.txt``), no directory, no control
    character, at most 100 characters, a known extension, the same when cleaned again."""
    given_name = f"{stem}.{extension}" if extension else stem
    name = file_name(given_name)
    if name is None:
        return
    assert not any(unicodedata.category(c) in _SHOWN_BADLY for c in name), ascii(name)
    assert not set(name) & set('/\\:*?"<>|'), name
    assert len(name) <= 100
    assert name == name.strip() and not name.startswith((".", "_"))
    assert name.rpartition(".")[2] in KINDS
    assert file_name(name) == name
