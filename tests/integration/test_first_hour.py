"""What a newcomer meets in the first hour (issue 15): /start, features not set up yet,
/status in an idle chat, what `exec` includes, and the hints that say what applies where."""

from __future__ import annotations

import asyncio
import io

import structlog

from assistant.agent.loop import no_model_hint
from assistant.app import run_chat
from assistant.config import load_config
from assistant.core.roles import Permission, Role
from assistant.llm.transcribe import upload_name
from assistant.security.policy import Policy
from tests.conftest import GUEST, USER
from tests.integration.test_daemon import start_daemon, write_config


async def test_start_greets_and_explains(make_config, start_harness, fake_model):
    h = await start_harness(make_config())
    reply = await h.ask("/start")
    assert reply.startswith("Hello")
    assert "/help" in reply and "/status" in reply
    assert "/start" not in reply  # not listed: it is what Telegram sends first
    assert fake_model.requests == []


async def test_features_not_set_up_say_how(make_config, start_harness):
    h = await start_harness(make_config())  # no [[ssh.hosts]]; memory and scheduler off
    for command in ("/run web1 uptime", "/hosts"):
        reply = await h.ask(command)
        assert "[[ssh.hosts]]" in reply and "docs/ssh.md" in reply, reply
        assert "Unknown command" not in reply
    assert "[memory] enabled = true" in await h.ask("/remember the door code is 4711")
    assert "[scheduler] enabled = true" in await h.ask("/remind 10m tea")
    help_text = await h.ask("/help")
    hint_lines = help_text.split("Not set up yet:", 1)[1]
    assert "/run, /hosts — no servers yet" in hint_lines  # approvals work without servers
    assert "/approve" not in hint_lines and "/approve ID [CODE]" in help_text
    assert "/remember, /memory, /forget — memory is off" in hint_lines
    # a guest could not use them anyway: told so, and /help does not tease them
    assert await h.ask("/run web1 uptime", user=GUEST) == (
        "/run is not available to your role (guest)."
    )
    assert "Not set up yet" not in await h.ask("/help", user=GUEST)
    user_help = await h.ask("/help", user=USER)
    assert "/run, /hosts — no servers yet" in user_help  # no /approve for a user


async def test_status_in_an_idle_chat_shows_nothing_running(make_config, start_harness):
    h = await start_harness(make_config())
    status = await h.ask("/status")
    assert "Queue: 0 waiting, 0 running" in status


def test_exec_includes_exec_readonly():
    policy = Policy({Role.USER: [Permission.CHAT, Permission.EXEC]})
    assert policy.allows(Role.USER, Permission.EXEC_READONLY)
    policy = Policy({Role.USER: [Permission.CHAT]})
    assert not policy.allows(Role.USER, Permission.EXEC_READONLY)


async def test_first_log_lines_say_what_is_missing(tmp_path, fake_model):
    # no model, no channel, no owner
    path = write_config(
        tmp_path / "config.toml", tmp_path / "state", fake_model.base_url, models=[]
    )
    with structlog.testing.capture_logs() as logs:
        daemon, task = await start_daemon(path)
        daemon.stop()
        assert await task == 0
    events = {entry["event"]: entry for entry in logs}
    for event, words in (
        ("config.no_channel", "[telegram], [feishu], [slack] or [whatsapp]"),
        ("config.no_model", "[[models]]"),
        ("config.no_owner", "[access] owners"),
    ):
        assert event in events, sorted(events)
        assert words in events[event]["fix"] and str(path) in events[event]["fix"]


async def test_the_no_model_hint_says_what_applies_where_it_runs(tmp_path, fake_model):
    path = write_config(
        tmp_path / "config.toml", tmp_path / "state", fake_model.base_url, models=[]
    )
    out = io.StringIO()
    config = load_config(path, {})
    await run_chat(config, message="hello", stdout=out, configure_logging=False, config_path=path)
    reply = out.getvalue()
    assert str(path) in reply and "start `assistant chat` again" in reply
    assert "systemctl" not in reply
    # the daemon outside systemd, and under it
    for env, expected in (
        ({}, "restart `assistant run`"),
        ({"INVOCATION_ID": "0123abcd"}, "systemctl reload assistant"),
    ):
        daemon, task = await start_daemon(path, env)
        assert daemon.services is not None
        assert expected in no_model_hint(*daemon.services.agent.no_model)
        daemon.stop()
        await asyncio.wait_for(task, 10)


def test_voice_upload_names_follow_the_content():
    ogg = b"OggS\x00\x02" + b"\x00" * 30
    assert upload_name(ogg, "voice.opus", "audio/opus") == ("voice.ogg", "audio/ogg")
    assert upload_name(b"ID3\x04rest", "a.bin", "") == ("a.mp3", "audio/mpeg")
    wav = b"RIFF\x00\x00\x00\x00WAVEfmt "
    assert upload_name(wav, "rec", "") == ("rec.wav", "audio/wav")
    assert upload_name(b"\x00\x00\x00\x20ftypM4A ", "memo.amr", "") == ("memo.m4a", "audio/mp4")
    assert upload_name(b"unknown", "clip.webm", "audio/webm") == ("clip.webm", "audio/webm")
    assert upload_name(b"unknown", "voice.opus", "audio/opus") == ("voice.ogg", "audio/ogg")
