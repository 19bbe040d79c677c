"""The policy against a real shell: whenever it allows a command, dash must run exactly the
programs, with exactly the arguments, that the analysis saw — nothing more.

The programs on PATH are recorders that write down their argv; hypothesis builds commands
from read-only starts and the characters shells treat specially (quotes, backslashes,
line continuations, $, backticks, comments, separators…). This is the class of bug where the
parser and the shell disagree; the tables in test_policy_classes.py hold the known cases.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from assistant.config import parse_config
from assistant.core.roles import DEFAULT_PERMISSIONS, Role
from assistant.security.commands import Verdict
from assistant.security.isolated import IsolatedPolicy
from assistant.security.readonly import SPECS
from assistant.security.shell import analyze

DASH = shutil.which("dash") or "/bin/sh"
pytestmark = pytest.mark.skipif(not Path(DASH).exists(), reason="no POSIX shell to compare")

CONFIG = parse_config('[ssh]\n[[ssh.hosts]]\nname = "web1"\naddress = "10.0.0.11"\n', {}).ssh
USER = DEFAULT_PERMISSIONS[Role.USER]
RECORDER = """#!/bin/sh
f=$(/bin/mktemp "$REC/call.XXXXXX")
for a in "$(/usr/bin/basename "$0")" "$@"; do printf '%s\\0' "$a" >> "$f"; done
"""
STARTS = ["grep ", "grep -e ", "journalctl -g ", "ls ", "id ", "date ", "ss ", "uptime",
          "df ", "sort -t ", "cut -d ", "docker ps --format ", "tail -n 5 ", "ps "]  # fmt: skip
PIECES = ["\\\n", "$", '"', "'", "\\", "(", ")", "{", "}", "#", ";", "&", "|", "!", "`", "~",
          "=", " ", "\t", "\n", "<", ">", "x", "id", "-", "X", "$X", "1", "&&", "||",
          "/dev/null", ":", "%", "@", ",", "^", ".", "/", "-h", "/var/log/syslog"]  # fmt: skip
ENDS = ["", " /var/log/syslog", "; uptime", " | sort", " 2>&1", " # x"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("shell")
    bin_dir, rec, cwd = root / "bin", root / "rec", root / "cwd"
    for d in (bin_dir, rec, cwd):
        d.mkdir()
    names = {spec.name for spec in SPECS} | {"touch", "rm", "reboot", "sh", "curl", "kill"}
    for name in names:
        path = bin_dir / name
        path.write_text(RECORDER)
        path.chmod(0o755)
    policy = IsolatedPolicy(CONFIG, timeout=5.0)
    yield bin_dir, rec, cwd, policy
    policy.close()


def _run(world, command: str) -> tuple[list[tuple[str, ...]], str]:
    bin_dir, rec, cwd, _ = world
    for old in rec.iterdir():
        old.unlink()
    env = {"PATH": str(bin_dir), "REC": str(rec), "HOME": str(cwd), "X": "xval"}
    result = subprocess.run(
        [DASH, "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
        check=False,
    )
    calls = [
        tuple(part.decode("utf-8", "replace") for part in f.read_bytes().split(b"\0")[:-1])
        for f in rec.iterdir()
    ]
    return sorted(calls), result.stderr.decode("utf-8", "replace")


def _expected(command: str) -> list[tuple[str, ...]]:
    analysis = analyze(command.strip(" \t\n"))
    return sorted(
        (p.words[0].rsplit("/", 1)[-1], *p.words[1:]) for p in analysis.parts if p.kind == "command"
    )


_COMMANDS = st.builds(
    lambda start, pieces, end: start + "".join(pieces) + end,
    st.sampled_from(STARTS),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=5),
    st.sampled_from(ENDS),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_COMMANDS)
def test_an_allowed_command_runs_exactly_what_was_judged(world, command):
    policy = world[3]
    decision = policy.decide(permissions=USER, host=CONFIG.host("web1"), command=command)
    event(decision.verdict.value)
    if decision.verdict is not Verdict.ALLOW:
        return
    calls, stderr = _run(world, command.strip(" \t\n"))
    assert "not found" not in stderr, (command, stderr)
    # nothing runs that was not judged (a redirection from a missing file may run less)
    expected = _expected(command)
    assert all(calls.count(c) <= expected.count(c) for c in calls), (command, calls, expected)


def test_known_disagreements_are_not_allowed(world):
    policy = world[3]
    for command in [
        'grep "$\\\n(touch x)" /var/log/syslog',
        "grep $\\\n0 /var/log/syslog",
        "ls;\\",
        "id #\n\\",
    ]:
        decision = policy.decide(permissions=USER, host=CONFIG.host("web1"), command=command)
        assert decision.verdict is Verdict.DENY, (command, decision)
