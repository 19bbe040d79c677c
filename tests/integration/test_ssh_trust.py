"""The promises of the command policy, end to end against a real sshd: what the policy cannot
see never arrives, secrets in output never leave, a second person approves, and an approval
lives exactly as long as the turn that waits for it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.fakes import sshd as fake_sshd
from tests.fakes.model import Reply
from tests.fakes.telegram import FakeBotAPI
from tests.integration.test_ssh_e2e import ADMIN, OWNER, USER, audit_kinds, config_for
from tests.integration.test_telegram import run_daemon  # noqa: F401

pytestmark = pytest.mark.skipif(
    fake_sshd.available() is not None, reason=str(fake_sshd.available())
)

OPENAI_KEY = "sk-proj-Q3v9XkLmN2pR8sT4uW6yZ1aB5cD7eF0g"
DB_PASSWORD = "correct-horse-battery-staple"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"


def _marker() -> Path:
    return Path(f"/tmp/assistant-pwned-{uuid.uuid4().hex}")


def _everything_shown(bot_api: FakeBotAPI) -> str:
    return "\n".join(s.text for s in bot_api.sent) + "\n".join(
        str(e.get("text", "")) for e in bot_api.edits
    )


async def test_a_command_the_policy_cannot_see_never_arrives(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    await run_daemon(config_for(tmp_path, fake_model, bot_api, sshd))
    marker = _marker()
    hidden = [
        f"journalctl --since ${{x:-$(touch${{IFS}}{marker})}}",
        f'journalctl --since "${{x:-$(touch {marker})}}" -n 1',
        f"tail -n `touch {marker}` /var/log/syslog",
        f"ps aux | grep $(touch {marker})",
        f"df -h > $(touch {marker})",
    ]
    for i, command in enumerate(hidden):  # a plain user, typed
        await bot_api.user_message(USER, USER, f"/run box {command}")
        await bot_api.wait_sent(i + 1, timeout=15)
    answers = [s.text for s in bot_api.sent]
    assert all("only run commands that are allowed outright" in a for a in answers), answers
    # the same through a (prompt-injected) model, for the user
    for command in hidden:
        fake_model.script.extend(
            [Reply(tool_calls=[("run_command", {"host": "box", "command": command})]), Reply("no")]
        )
    for i, _ in enumerate(hidden):
        await bot_api.user_message(USER, USER, f"please check the logs {i}")
    await bot_api.wait_for(lambda: sum(s.text == "no" for s in bot_api.sent) == len(hidden), 20)
    for request in fake_model.requests[1::2]:
        assert "Denied by the policy" in request["messages"][-1]["content"]
    assert not any(s.reply_markup for s in bot_api.sent)  # nobody was even asked
    assert not marker.exists()
    verdicts = {d["verdict"] for k, d in audit_kinds(tmp_path) if k == "policy.decision"}
    assert verdicts == {"deny"}
    assert "exec.result" not in [k for k, _ in audit_kinds(tmp_path)]


async def test_secrets_in_command_output_are_redacted_everywhere(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    secrets_file = Path(f"/tmp/assistant-env-{uuid.uuid4().hex}")
    secrets_file.write_text(
        f"OPENAI_API_KEY={OPENAI_KEY}\nDB_PASSWORD={DB_PASSWORD}\n{PEM}\n"
        f"BOT={bot_api.token}\nHOME=/root\n"
    )
    os.chmod(secrets_file, 0o644)
    try:
        await run_daemon(config_for(tmp_path, fake_model, bot_api, sshd))
        await bot_api.user_message(OWNER, OWNER, f"/run box cat {secrets_file}")
        fake_model.script.extend(
            [
                Reply(
                    tool_calls=[("run_command", {"host": "box", "command": f"cat {secrets_file}"})]
                ),
                Reply("Here is the environment."),
            ]
        )
        await bot_api.wait_sent(1, timeout=15)
        await bot_api.user_message(ADMIN, ADMIN, "what is in the file?")
        await bot_api.wait_for(
            lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent)
        )
        card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
        await bot_api.press(
            OWNER,
            OWNER,
            card.reply_markup["inline_keyboard"][0][0]["callback_data"],
            card.message_id,
        )
        await bot_api.wait_for(
            lambda: any(s.text == "Here is the environment." for s in bot_api.sent), 15
        )
    finally:
        secrets_file.unlink()
    shown = _everything_shown(bot_api)
    assert "HOME=/root" in shown  # the output itself arrived …
    for secret in (OPENAI_KEY, DB_PASSWORD, "b3BlbnNzaC1rZXktdjEAAAAA", bot_api.token):
        assert secret not in shown  # … without the secrets
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        stored = "\n".join(r[0] for r in db.execute("SELECT content FROM messages"))
        audit = "\n".join(r[0] for r in db.execute("SELECT data FROM audit"))
    for secret in (OPENAI_KEY, DB_PASSWORD, "b3BlbnNzaC1rZXktdjEAAAAA"):
        assert secret not in stored and secret not in audit
        for request in fake_model.requests:
            assert secret not in str(request)


async def test_nobody_approves_their_own_request(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    await run_daemon(config_for(tmp_path, fake_model, bot_api, sshd))
    marker = _marker()
    # an admin types an ask-class /run: it becomes a request to the OTHER approvers
    await bot_api.user_message(ADMIN, ADMIN, f"/run box touch {marker}")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent))
    assert not any(s.chat_id == ADMIN and s.reply_markup for s in bot_api.sent)  # no buttons
    card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
    approve = card.reply_markup["inline_keyboard"][0][0]["callback_data"]
    # a forged press and a typed /approve by the requester are both refused
    await bot_api.press(ADMIN, ADMIN, approve, card.message_id)
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
    assert "cannot approve your own request" in bot_api.callback_answers[0]["text"]
    await bot_api.user_message(ADMIN, ADMIN, "/approve 1")
    await bot_api.wait_for(
        lambda: any("cannot approve your own" in s.text for s in bot_api.sent if s.chat_id == ADMIN)
    )
    assert not marker.exists()
    await bot_api.press(OWNER, OWNER, approve, card.message_id)
    await bot_api.wait_for(lambda: any("box: exit 0" in s.text for s in bot_api.sent), 15)
    assert marker.exists()
    marker.unlink()
    records = audit_kinds(tmp_path)
    assert [d["status"] for k, d in records if k == "approval.decided"] == ["approved"]
    assert next(d for k, d in records if k == "approval.decided")
    assert "approval.self_refused" in [k for k, _ in records]
    # the owner's own typed /run confirms itself
    await bot_api.user_message(OWNER, OWNER, f"/run box touch {marker}")
    await bot_api.wait_for(lambda: marker.exists(), 15)
    marker.unlink()
    assert "approval.self" in [k for k, _ in audit_kinds(tmp_path)]


async def test_an_approval_outlives_the_tool_timeout(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    config = config_for(tmp_path, fake_model, bot_api, sshd)
    config = config.model_copy(
        update={"agent": config.agent.model_copy(update={"tool_timeout": 1.0})}
    )
    await run_daemon(config)
    marker = _marker()
    fake_model.script.extend(
        [
            Reply(
                tool_calls=[
                    (
                        "run_command",
                        {"host": "box", "command": f"sleep 1.5; touch {marker}", "timeout": 30},
                    )
                ]
            ),
            Reply("Done."),
        ]
    )
    await bot_api.user_message(ADMIN, ADMIN, "make the marker slowly")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent))
    card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
    # longer than tool_timeout passes before anyone decides; then the command itself runs
    # longer than tool_timeout too
    await asyncio.sleep(1.5)
    await bot_api.press(
        OWNER, OWNER, card.reply_markup["inline_keyboard"][0][0]["callback_data"], card.message_id
    )
    await bot_api.wait_for(lambda: any(s.text == "Done." for s in bot_api.sent), 20)
    assert marker.exists()
    marker.unlink()
    assert "box: exit 0" in fake_model.requests[1]["messages"][-1]["content"]


async def test_cancel_withdraws_a_waiting_request_and_removes_its_buttons(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    await run_daemon(config_for(tmp_path, fake_model, bot_api, sshd))
    marker = _marker()
    fake_model.script.extend(
        [
            Reply(tool_calls=[("run_command", {"host": "box", "command": f"touch {marker}"})]),
            Reply("Withdrawn, fine."),
        ]
    )
    await bot_api.user_message(ADMIN, ADMIN, "make the marker")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent))
    card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
    approve = card.reply_markup["inline_keyboard"][0][0]["callback_data"]
    await bot_api.user_message(ADMIN, ADMIN, "/cancel")
    await bot_api.wait_for(lambda: any(s.text == "Withdrawn, fine." for s in bot_api.sent), 15)
    assert card.reply_markup is None and "withdrawn" in card.text  # buttons gone
    await bot_api.press(OWNER, OWNER, approve, card.message_id)  # a late press
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
    assert "already withdrawn" in bot_api.callback_answers[0]["text"]
    assert not marker.exists()
    assert "withdrawn" in fake_model.requests[1]["messages"][-1]["content"]
    statuses = [d["status"] for k, d in audit_kinds(tmp_path) if k == "approval.decided"]
    assert statuses == ["withdrawn"]


async def test_hosts_that_require_totp_need_a_current_code_to_approve(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    import pyotp

    from assistant.security.second_factor import SecondFactor
    from assistant.store.db import Database, prepare_state_dir
    from assistant.store.totp import TotpStore

    config = config_for(tmp_path, fake_model, bot_api, sshd)
    hosts = [h.model_copy(update={"require_totp": h.name == "box"}) for h in config.ssh.hosts]
    config = config.model_copy(update={"ssh": config.ssh.model_copy(update={"hosts": hosts})})
    prepare_state_dir(tmp_path / "state")
    async with Database(tmp_path / "state" / "state.db") as db:
        secret, uri = await SecondFactor(TotpStore(db)).enroll(f"telegram:{OWNER}")
    assert uri.startswith("otpauth://totp/") and secret in uri
    await run_daemon(config)
    marker = _marker()
    await bot_api.user_message(ADMIN, ADMIN, f"/run box touch {marker}")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent))
    card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
    assert "/approve 1 CODE" in card.text
    await bot_api.press(
        OWNER, OWNER, card.reply_markup["inline_keyboard"][0][0]["callback_data"], card.message_id
    )
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
    assert "needs a one-time code" in bot_api.callback_answers[0]["text"]

    def owner_said(text: str) -> bool:
        return any(text in s.text for s in bot_api.sent if s.chat_id == OWNER)

    await bot_api.user_message(OWNER, OWNER, "/approve 1 000000")
    await bot_api.wait_for(lambda: owner_said("That code is not valid."))
    assert not marker.exists()
    code = pyotp.TOTP(secret).now()
    await bot_api.user_message(OWNER, OWNER, f"/approve 1 {code}")
    await bot_api.wait_for(lambda: marker.exists(), 15)
    marker.unlink()
    # a code works once
    await bot_api.user_message(ADMIN, ADMIN, f"/run box touch {marker}")
    await bot_api.wait_for(lambda: owner_said("Approval needed (#2)"))
    await bot_api.user_message(OWNER, OWNER, f"/approve 2 {code}")
    await bot_api.wait_for(lambda: owner_said("used already"))
    assert not marker.exists()
    # the owner's own /run on a TOTP host is a request like anyone's (nobody else may approve
    # here without a code either: the admin has no authenticator)
    await bot_api.user_message(OWNER, OWNER, f"/run box touch {marker}")
    await bot_api.wait_for(lambda: any(s.chat_id == ADMIN and s.reply_markup for s in bot_api.sent))
    await bot_api.user_message(ADMIN, ADMIN, "/approve 3 123456")
    await bot_api.wait_for(
        lambda: any("no authenticator set up" in s.text for s in bot_api.sent if s.chat_id == ADMIN)
    )
    assert not marker.exists()
    kinds = [k for k, _ in audit_kinds(tmp_path)]
    assert kinds.count("approval.code_refused") >= 3


async def test_one_person_on_two_accounts_cannot_approve_their_own_request(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    second = 1004  # the admin's other account
    config = config_for(tmp_path, fake_model, bot_api, sshd)
    users = {**config.access.telegram.users, str(second): config.access.telegram.users[str(ADMIN)]}
    access = config.access.model_copy(
        update={
            "telegram": config.access.telegram.model_copy(update={"users": users}),
            "people": [[f"telegram:{ADMIN}", f"telegram:{second}"]],
        }
    )
    await run_daemon(config.model_copy(update={"access": access}))
    marker = _marker()
    await bot_api.user_message(ADMIN, ADMIN, f"/run box touch {marker}")
    await bot_api.wait_for(lambda: any(s.chat_id == OWNER and s.reply_markup for s in bot_api.sent))
    assert not any(s.chat_id in (ADMIN, second) and s.reply_markup for s in bot_api.sent)
    card = next(s for s in bot_api.sent if s.chat_id == OWNER and s.reply_markup)
    await bot_api.press(
        second, second, card.reply_markup["inline_keyboard"][0][0]["callback_data"], card.message_id
    )
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
    assert "cannot approve your own request" in bot_api.callback_answers[0]["text"]
    assert not marker.exists()


async def test_commands_that_read_standard_input_end_at_once(
    tmp_path,
    fake_model,
    bot_api,
    sshd,
    run_daemon,  # noqa: F811
):
    config = config_for(tmp_path, fake_model, bot_api, sshd, command_timeout=30)
    await run_daemon(config)
    started = asyncio.get_running_loop().time()
    await bot_api.user_message(USER, USER, "/run box cat")  # read-only, reads stdin
    await bot_api.user_message(USER, USER, "/run box grep x")
    sent = await bot_api.wait_sent(2, timeout=20)
    assert all("exit" in s.text for s in sent), [s.text for s in sent]
    assert asyncio.get_running_loop().time() - started < 15  # not the 30 s time limit
