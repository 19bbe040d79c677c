"""send_file: what the model writes passes the redactor, tables included: a CSV or TSV column
whose header names a secret (password, api_key, token…) leaves with its cells masked."""

from __future__ import annotations

import csv
import io
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
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=30
)


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
