"""`assistant policy check` and `assistant users totp`, run as an operator runs them."""

from __future__ import annotations

import json

import tomli_w

from tests.integration.test_cli import run_cli

CONFIG = {
    "ssh": {
        "hosts": [
            {"name": "web1", "address": "10.0.0.11", "tags": ["web"]},
            {"name": "db1", "address": "10.0.0.21"},
        ],
        "rules": [
            {"tags": ["web"], "allow": ["systemctl restart .*"]},
            {"hosts": ["db1"], "deny": ["systemctl stop postgresql"]},
        ],
    }
}


def _config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps({"assistant": {"state_dir": str(tmp_path / "state")}, **CONFIG}))
    return str(path)


def test_policy_check_prints_the_verdict_the_rule_and_why(tmp_path):
    config = _config(tmp_path)
    allowed = run_cli("policy", "check", "--config", config, "--", "df", "-h")
    assert allowed.returncode == 0, allowed.stderr
    assert "verdict: allow" in allowed.stdout and "read-only: df" in allowed.stdout
    rule = run_cli(
        "policy", "check", "--config", config, "--host", "web1", "--", "systemctl restart nginx"
    )
    assert rule.returncode == 0 and "[[ssh.rules]] #1 allow" in rule.stdout
    hidden = run_cli(
        "policy", "check", "--config", config, "--host", "web1",
        "--", "systemctl restart ${x:-$(reboot)}",
    )  # fmt: skip
    assert hidden.returncode == 3 and "verdict: ask" in hidden.stdout
    assert "cannot see through" in hidden.stdout
    as_user = run_cli("policy", "check", "--config", config, "--role", "user", "--", "reboot")
    assert as_user.returncode == 4 and "verdict: deny" in as_user.stdout
    denied = run_cli(
        "policy", "check", "--config", config, "--host", "db1", "--", "systemctl stop postgresql"
    )
    assert denied.returncode == 4 and "[[ssh.rules]] #2 deny" in denied.stdout
    unknown = run_cli("policy", "check", "--config", config, "--host", "nope", "--", "ls")
    assert unknown.returncode == 1 and "no [[ssh.hosts]] entry named 'nope'" in unknown.stderr


def test_policy_check_reads_and_writes_json_lines(tmp_path):
    config = _config(tmp_path)
    lines = [
        {"command": "ps aux"},
        {"command": "ps auxeww", "role": "user"},
        {"command": "systemctl restart nginx", "role": "user", "host": "web1"},
        {"command": "rm -rf /"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    result = run_cli("policy", "check", "--config", config, "--jsonl", "-", stdin=text)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["verdict"] for o in out] == ["allow", "deny", "allow", "deny"]
    assert [o["command"] for o in out] == [line["command"] for line in lines]
    assert all(o["reason"] and o["rule"] for o in out)
    bad = run_cli(
        "policy", "check", "--config", config, "--jsonl", "-", stdin='{"cmd": 1}\nnot json\n'
    )
    assert bad.returncode == 1
    assert [json.loads(line)["line"] for line in bad.stdout.splitlines()] == [1, 2]
    listing = run_cli("policy", "list", "--config", config)
    assert listing.returncode == 0 and "ps [aux|-ef" in listing.stdout


def test_users_totp_add_list_remove(tmp_path):
    config = _config(tmp_path)
    assert (
        "nobody has an authenticator" in run_cli("users", "totp", "list", "--config", config).stdout
    )
    added = run_cli("users", "totp", "add", "telegram", "1001", "--config", config)
    assert added.returncode == 0, added.stderr
    assert "authenticator app" in added.stdout
    assert any(block in added.stdout for block in "▀▄█")  # a QR code
    listed = run_cli("users", "totp", "list", "--config", config)
    assert listed.stdout.startswith("telegram:1001\tsince ")
    removed = run_cli("users", "totp", "remove", "telegram", "1001", "--config", config)
    assert removed.returncode == 0 and "removed" in removed.stdout
    again = run_cli("users", "totp", "remove", "telegram", "1001", "--config", config)
    assert again.returncode == 1 and "no authenticator" in again.stderr
    audit = run_cli("audit", "tail", "--config", config).stdout
    assert "totp.added" in audit and "totp.removed" in audit
