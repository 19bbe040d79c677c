"""Input that makes the parser loop or a pattern backtrack costs one child process and a
deny, never the daemon: decisions run with a time limit, and the next one works."""

from __future__ import annotations

import time

from assistant.config import parse_config
from assistant.core.roles import DEFAULT_PERMISSIONS, Role
from assistant.security.commands import Verdict
from assistant.security.isolated import IsolatedPolicy

CONFIG = parse_config('[ssh]\n[[ssh.hosts]]\nname = "web1"\naddress = "10.0.0.11"\n', {}).ssh
HOST = CONFIG.host("web1")
OWNER = DEFAULT_PERMISSIONS[Role.OWNER]


def test_a_parser_that_never_returns_costs_a_deny_and_nothing_else():
    policy = IsolatedPolicy(CONFIG, timeout=1.5)
    try:
        assert policy.decide(permissions=OWNER, host=HOST, command="df -h").verdict is Verdict.ALLOW
        for hostile in ("ls a'${'", "grep a'${' /var/log/x", "chmod -R 777 " * 300 + "x"):
            started = time.monotonic()
            decision = policy.decide(permissions=OWNER, host=HOST, command=hostile)
            assert decision.verdict is Verdict.DENY, decision
            assert "could not be analysed" in decision.reason
            assert time.monotonic() - started < 5
        # the next decision gets a fresh child
        assert (
            policy.decide(permissions=OWNER, host=HOST, command="uptime").verdict is Verdict.ALLOW
        )
    finally:
        policy.close()


def test_decisions_match_the_in_process_policy():
    from assistant.security.commands import CommandPolicy

    local = CommandPolicy(CONFIG)
    isolated = IsolatedPolicy(CONFIG)
    try:
        for command in ("ps aux", "ps e", "rm -rf /", "journalctl --since ${x:-$(id)}", ""):
            a = local.decide(permissions=OWNER, host=HOST, command=command)
            b = isolated.decide(permissions=OWNER, host=HOST, command=command)
            assert (a.verdict, a.reason, a.rule) == (b.verdict, b.reason, b.rule)
    finally:
        isolated.close()


def test_reasons_are_written_in_the_requesters_language():
    from assistant.core.i18n import using

    isolated = IsolatedPolicy(CONFIG)
    try:
        with using("zh_CN"):
            denied = isolated.decide(permissions=OWNER, host=HOST, command="rm -rf /")
            empty = isolated.decide(permissions=OWNER, host=HOST, command="")
        english = isolated.decide(permissions=OWNER, host=HOST, command="rm -rf /")
    finally:
        isolated.close()
    assert denied.verdict is Verdict.DENY and denied.reason == "递归删除 / 或系统目录"
    assert empty.reason == "命令为空"
    assert english.reason == "recursively deletes / or a system directory"
    assert denied.rule == english.rule  # the audit's rule names stay as they are
