"""send_file: what the model writes passes the redactor, tables included: a CSV or TSV column
whose header names a secret (password, api_key, token…) leaves with its cells masked."""

from __future__ import annotations

import base64
import csv
import io
import string
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.messages import ChatRef, OutFile, Sender
from assistant.core.redact import Redactor
from assistant.core.roles import DEFAULT_PERMISSIONS, Role
from assistant.core.tools import ToolContext
from assistant.tools.files import SendFileParams, SendFileTool


async def _mark(what: str) -> None:
    return None


def context(files: list[OutFile]) -> ToolContext:
    def attach(file: OutFile) -> bool:
        files.append(file)
        return True

    return ToolContext(
        turn_id="t1",
        chat=ChatRef("telegram", "1"),
        sender=Sender("1"),
        role=Role.USER,
        permissions=DEFAULT_PERMISSIONS[Role.USER],
        timezone=ZoneInfo("UTC"),
        mark_side_effect=_mark,
        attach=attach,
    )


SECRET_HEADERS = ["password", "Password", "api_key", "API Key", "db_password", "token", "secret"]
values = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="*"),
    min_size=8,
    max_size=30,
)  # "*" is what a mask is made of


@settings(max_examples=40, deadline=None)
@given(
    header=st.sampled_from(SECRET_HEADERS),
    secrets=st.lists(values, min_size=1, max_size=4, unique=True),
    tab=st.booleans(),
)
async def test_secret_columns_of_a_table_leave_masked(header, secrets, tab):
    delimiter = "\t" if tab else ","
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["user", header, "note"])
    for i, secret in enumerate(secrets):
        writer.writerow([f"user{i}", secret, "ok"])
    files: list[OutFile] = []
    tool = SendFileTool(Redactor(), lambda: 1_000_000)
    name = "accounts.tsv" if tab else "accounts.csv"
    result = await tool.call(SendFileParams(name=name, content=out.getvalue()), context(files))
    assert not result.is_error, result.content
    sent = files[0].data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(sent), delimiter=delimiter))
    assert rows[0] == ["user", header, "note"]
    assert [r[0] for r in rows[1:]] == [f"user{i}" for i in range(len(secrets))]
    for secret in secrets:
        assert all(secret not in cell for row in rows[1:] for cell in row[1:2]), secret


async def test_a_table_without_secret_columns_is_sent_as_written():
    content = 'city,temp\n"Zürich, CH",3\n北京,5\n'
    files: list[OutFile] = []
    tool = SendFileTool(Redactor(), lambda: 1_000_000)
    await tool.call(SendFileParams(name="t.csv", content=content), context(files))
    assert files[0].data == b"\xef\xbb\xbf" + content.encode()


def _spaced(s: str) -> str:
    return " ".join(s)


def _split(s: str) -> str:
    return s[: len(s) // 2] + "\n" + s[len(s) // 2 :]


def _json(s: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in s)


ENCODINGS = {
    "split over lines": _split,
    "spaced out": _spaced,
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "hex": lambda s: s.encode().hex(),
    "percent-encoded": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "JSON escapes": _json,
    "HTML entities": lambda s: "".join(f"&#x{ord(c):x};" for c in s),
}
config_secrets = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "-_"), min_size=12, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(
    secret=config_secrets,
    how=st.sampled_from(sorted(ENCODINGS)),
    before=st.text(st.sampled_from(string.ascii_letters + " \n,.:"), max_size=40),
    after=st.text(st.sampled_from(string.ascii_letters + " \n,.:"), max_size=40),
)
async def test_a_config_secret_in_any_common_encoding_is_never_sent(secret, how, before, after):
    """A secret of the config (a token the model should never have) that reaches a file the
    model writes, cut over lines or encoded, refuses the file instead of sending it."""
    content = f"{before} {ENCODINGS[how](secret)} {after}"
    files: list[OutFile] = []
    tool = SendFileTool(Redactor([secret]), lambda: 1_000_000)
    result = await tool.call(SendFileParams(name="notes.txt", content=content), context(files))
    if files:  # sent: the secret is in no form of it
        assert secret not in files[0].data.decode(), how
        assert ENCODINGS[how](secret) not in files[0].data.decode(), how
    else:
        assert result.is_error and secret not in result.content


async def test_a_file_without_secrets_is_sent_whatever_it_encodes():
    content = "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ= 68656c6c6f20776f726c64 %E4%BD%A0 \\u4f60"
    files: list[OutFile] = []
    tool = SendFileTool(Redactor(["a-config-secret-value"]), lambda: 1_000_000)
    result = await tool.call(SendFileParams(name="n.txt", content=content), context(files))
    assert not result.is_error and files[0].data.decode() == content
