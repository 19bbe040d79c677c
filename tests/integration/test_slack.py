"""The Slack channel end to end: the real daemon against the fake Slack (Web API, Events API
sender, Socket Mode websocket) and the fake model."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w

from assistant.app import Daemon
from assistant.config import Config, parse_config
from assistant.core.commands import ActionCall, ActionResult
from assistant.core.messages import Button, ChatRef
from assistant.core.roles import Permission
from tests.fakes.model import FakeModel, Reply
from tests.fakes.slack import FakeSlack
from tests.helpers import Running, running_daemons

OWNER = "U0OWNER001"
USER = "U0USER0002"
STRANGER = "U0STRANGE3"
OWNER_DM = "D0OWNER001"
GENERAL = "C0GENERAL1"


@pytest.fixture
async def slack():
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


def slack_data(
    tmp_path: Path, fake_model: FakeModel, fake: FakeSlack, mode: str = "events", **extra: Any
) -> dict[str, Any]:
    gateway = extra.pop("gateway", {"port": 0})
    return {
        "assistant": {"state_dir": str(tmp_path / "state"), "drain_timeout": 3},
        "gateway": gateway,
        "access": {
            "owners": [f"slack:{OWNER}"],
            "slack": {"users": {USER: "user"}, "groups": [GENERAL]},
        },
        "models": [{"name": "m0", "base_url": fake_model.base_url, "model": "f", "timeout": 60}],
        "slack": {
            "enabled": True,
            "bot_token": fake.bot_token,
            "app_token": fake.app_token,
            "signing_secret": fake.signing_secret,
            "mode": mode,
            "api_base": fake.api_base,
            "stream": False,
            **extra,
        },
        "memory": {"enabled": False},
        "scheduler": {"enabled": False},
    }


def slack_config(
    tmp_path: Path, fake_model: FakeModel, fake: FakeSlack, mode: str = "events", **extra: Any
) -> Config:
    return parse_config(tomli_w.dumps(slack_data(tmp_path, fake_model, fake, mode, **extra)), {})


class SlackRunning(Running):
    def __init__(self, daemon: Daemon, task: asyncio.Task[int]) -> None:
        super().__init__(daemon, task, "channel.slack")

    @property
    def url(self) -> str:
        assert self.daemon.gateway is not None
        return f"http://127.0.0.1:{self.daemon.gateway.port}/slack/events"


@pytest.fixture
async def run_daemon():
    async for start in running_daemons(SlackRunning):
        yield start


async def test_signatures_url_verification_and_retries(tmp_path, fake_model, slack, run_daemon):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack))
    url = running.url
    hello = slack.event(slack.message(OWNER_DM, OWNER, "hi &lt;there&gt;"))
    async with aiohttp.ClientSession() as http:
        challenge = {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
        status, body = await slack.post(http, url, challenge)
        assert status == 200 and json.loads(body) == {"challenge": challenge["challenge"]}
        refusals = [
            await slack.post(http, url, challenge, signed=False),
            await slack.post(http, url, hello, secret="another-secret"),
            await slack.post(http, url, hello, timestamp=int(time.time()) - 600),
        ]
        assert [status for status, _ in refusals] == [401, 401, 401]
        assert (await slack.post(http, url, hello))[0] == 200
        assert (await slack.post(http, url, hello, retry=1))[0] == 200  # Slack's retry
        await slack.wait_posted(1)
        await running.daemon.services.router.wait_idle()
    assert [(p.channel, p.text, p.thread_ts) for p in slack.posted] == [
        (OWNER_DM, "echo: hi &lt;there&gt;", None)
    ]
    assert len(fake_model.requests) == 1
    assert fake_model.requests[0]["messages"][-1]["content"] == "hi <there>"


async def test_channels_answer_on_mention_and_in_their_threads(
    tmp_path, fake_model, slack, run_daemon
):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack))
    url = running.url
    chatter = slack.message(GENERAL, USER, "just chatting")
    asked = slack.message(GENERAL, USER, f"<@U0BOT00001> how much disk? cc <@{OWNER}>")
    mention = {**asked, "type": "app_mention"}
    mention.pop("channel_type")
    async with aiohttp.ClientSession() as http:
        for event in (chatter, asked, mention):  # one message, two events: answered once
            assert (await slack.post(http, url, slack.event(event)))[0] == 200
        posted = await slack.wait_posted(1)
        assert posted[0].thread_ts == asked["ts"]  # in the thread of the question
        follow = slack.message(GENERAL, OWNER, "and memory?", thread_ts=asked["ts"])
        other = slack.message(GENERAL, OWNER, "unrelated thread", thread_ts="1.000001")
        for event in (follow, other):
            await slack.post(http, url, slack.event(event))
        await slack.wait_posted(2)
        await running.daemon.services.router.wait_idle()
    assert [p.text for p in slack.posted] == [
        f"echo: how much disk? cc @{OWNER}",
        "echo: and memory?",
    ]
    assert all(p.thread_ts == asked["ts"] for p in slack.posted)
    assert len(fake_model.requests) == 2


async def test_approval_by_block_kit_button(tmp_path, fake_model, slack, run_daemon):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack))
    services = running.daemon.services
    presses: list[ActionCall] = []

    async def decide(call: ActionCall) -> ActionResult:
        presses.append(call)
        return ActionResult(toast="Approved", edit_text="Approved by the owner")

    services.actions.register("ok", Permission.APPROVE, decide)
    buttons = ((Button("Approve", "ok:42:y", "primary"), Button("Deny", "ok:42:n", "danger")),)
    await services.router.notify(
        ChatRef("slack", GENERAL, is_group=True), "Run `df -h`?", buttons=buttons
    )
    (card,) = await slack.wait_posted(1)
    assert card.buttons == [("Approve", "ok:42:y"), ("Deny", "ok:42:n")]
    async with aiohttp.ClientSession() as http:
        status, _ = await slack.post(
            http, running.url, slack.block_actions(USER, card, 0), interactive=True, signed=False
        )
        assert status == 401
        await slack.post(http, running.url, slack.block_actions(USER, card, 0), interactive=True)
        await slack.wait_for(lambda: len(slack.ephemeral) == 1)
        assert "may not do this" in slack.ephemeral[0]["text"] and presses == []
        await slack.post(http, running.url, slack.block_actions(OWNER, card, 0), interactive=True)
        await slack.wait_for(lambda: slack.updates)
    assert [p.argument for p in presses] == ["42:y"]
    assert slack.ephemeral[1]["text"] == "Approved" and slack.ephemeral[1]["user"] == OWNER
    assert card.text == "Approved by the owner" and card.buttons == []


async def test_rate_limit_retry_after_is_honoured(tmp_path, fake_model, slack, run_daemon):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack))
    slack.fail("chat.postMessage", 429, "ratelimited", retry_after="1")
    async with aiohttp.ClientSession() as http:
        await slack.post(http, running.url, slack.event(slack.message(OWNER_DM, OWNER, "slow")))
    (posted,) = await slack.wait_posted(1)
    assert posted.text == "echo: slow"
    first, second = slack.attempts["chat.postMessage"]
    assert second - first >= 0.95


async def test_socket_mode_acks_after_recording(tmp_path, fake_model, slack, run_daemon):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack, mode="socket"))
    event = slack.event(slack.message(OWNER_DM, OWNER, "over the socket"))
    await slack.push("events_api", event, "env-1")
    await slack.push("events_api", event, "env-2")  # redelivered: acknowledged, not answered
    await slack.wait_for(lambda: sorted(slack.acks) == ["env-1", "env-2"])  # concurrent
    (posted,) = await slack.wait_posted(1)
    assert posted.text == "echo: over the socket"
    await running.daemon.services.router.wait_idle()
    assert len(slack.posted) == 1 and running.health["state"] == "ready"
    # a button press comes over the socket too (an "interactive" envelope)
    services = running.daemon.services
    pressed: list[str] = []

    async def decide(call: ActionCall) -> ActionResult:
        pressed.append(call.argument)
        return ActionResult(edit_text="Approved")

    services.actions.register("ok", Permission.APPROVE, decide)
    buttons = ((Button("Approve", "ok:9:y"),),)
    await services.router.notify(ChatRef("slack", OWNER), "Approve?", buttons=buttons)
    card = (await slack.wait_posted(2))[1]
    await slack.push("interactive", slack.block_actions(OWNER, card, 0), "env-3")
    await slack.wait_for(lambda: "env-3" in slack.acks and card.text == "Approved")
    assert pressed == ["9:y"]


async def test_wrong_bot_token_stops_only_the_adapter(tmp_path, fake_model, slack, run_daemon):
    config = slack_config(tmp_path, fake_model, slack, bot_token="xoxb-wrong-0001")
    running = await run_daemon(config, ready=False)
    await running.wait_state("failed")
    assert "refused the token" in running.health["detail"]
    assert "xoxb-wrong-0001" not in json.dumps(running.daemon.health.snapshot())


def test_a_daemon_without_slack_imports_nothing_of_slack_sdk(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).parents[2]
    probe = [sys.executable, "-m", "tests.integration.slack_probe", str(tmp_path)]
    out = subprocess.run(probe, cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


async def test_pairing_files_and_streaming(tmp_path, fake_model, slack, run_daemon):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack, stream=True))
    url = running.url
    async with aiohttp.ClientSession() as http:
        await slack.post(http, url, slack.event(slack.message("D0STRANGE3", STRANGER, "hello?")))
        (code,) = await slack.wait_posted(1)
        assert "assistant pairing approve slack " in code.text and fake_model.requests == []
        notes = slack.add_file("notes.txt", b"line one\nline two")
        shared = [
            {
                "id": "F1",
                "name": "notes.txt",
                "mimetype": "text/plain",
                "size": 17,
                "url_private_download": notes,
            }
        ]
        document = slack.message(OWNER_DM, OWNER, "read this", files=shared)
        await slack.post(http, url, slack.event(document))
        await fake_model.wait_requests(1)
        await slack.wait_for(
            lambda: len(slack.posted) == 2 and slack.posted[1].text.startswith("echo")
        )
        text = "Streaming " + " ".join(f"w{i}" for i in range(60))
        fake_model.responder = lambda body: Reply(text=text, chunk=12, pause=0.08)
        await slack.post(http, url, slack.event(slack.message(OWNER_DM, OWNER, "stream please")))
        await slack.wait_for(lambda: len(slack.posted) == 3 and slack.posted[2].text == text, 15)
    await running.daemon.services.router.wait_idle()
    prompt = fake_model.requests[0]["messages"][-1]["content"]
    assert "[Attached file: notes.txt]" in prompt and "line one\nline two" in prompt
    streamed = slack.posted[2]
    updates = [u for u in slack.updates if u["ts"] == streamed.ts]
    previews = [streamed.at] + [u["at"] for u in updates[:-1]]
    assert len(updates) >= 2 and len(slack.posted) == 3  # one message, updated
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(previews))


async def test_doctor_checks_the_token(tmp_path, fake_model, slack):
    from assistant.feature import CheckContext, Status
    from assistant.features.slack.checks import check_slack

    async with aiohttp.ClientSession() as session:
        ctx = CheckContext(config_path=tmp_path / "c.toml", env={}, env_file=None, session=session)
        ctx.config = slack_config(tmp_path, fake_model, slack)
        (ok,) = await check_slack(ctx)
        assert ok.status is Status.OK and ok.detail == "token accepted; bot assistant (events)"
        ctx.config = slack_config(tmp_path, fake_model, slack, bot_token="xoxb-bad-0001")
        (bad,) = await check_slack(ctx)
        assert bad.status is Status.FAIL and "refused the token" in bad.detail
        assert "xoxb-bad-0001" not in bad.detail and bad.fix
        ctx.config = slack_config(tmp_path, fake_model, slack, mode="socket")
        assert [f.status for f in await check_slack(ctx)] == [Status.OK, Status.OK]
        wrong = slack_config(tmp_path, fake_model, slack, mode="socket", app_token="xapp-bad-02")
        ctx.config = wrong
        ok, refused = await check_slack(ctx)
        assert refused.status is Status.FAIL and "app-level token" in refused.detail
        assert "xapp-bad-02" not in refused.detail + refused.fix


async def test_wrong_app_token_stops_socket_mode(tmp_path, fake_model, slack, run_daemon):
    config = slack_config(tmp_path, fake_model, slack, mode="socket", app_token="xapp-wrong-01")
    running = await run_daemon(config, ready=False)
    await running.wait_state("failed")
    assert "refused the app-level token" in running.health["detail"]


async def test_a_person_is_reached_by_member_id_and_the_card_updated(
    tmp_path, fake_model, slack, run_daemon
):
    """Approvals go to people (U…); Slack answers from their DM channel (D…), which edits use."""
    running = await run_daemon(slack_config(tmp_path, fake_model, slack))
    router = running.daemon.services.router
    buttons = ((Button("Approve", "ok:7:y"),),)
    (sent,) = await router.notify(ChatRef("slack", OWNER), "Approve?", buttons=buttons)
    assert sent.chat.chat_id == OWNER_DM and slack.posted[0].channel == OWNER_DM
    await router.edit(sent, "Approved")
    assert slack.posted[0].text == "Approved" and slack.posted[0].buttons == []
    assert len(slack.posted) == 1


async def test_threads_are_remembered_across_a_restart(tmp_path, fake_model, slack, run_daemon):
    config = slack_config(tmp_path, fake_model, slack)
    running = await run_daemon(config)
    asked = slack.message(GENERAL, USER, "<@U0BOT00001> hi")
    async with aiohttp.ClientSession() as http:
        await slack.post(http, running.url, slack.event(asked))
        await slack.wait_posted(1)
        await running.daemon.services.router.wait_idle()
        assert await running.stop() == 0
        running = await run_daemon(config)
        follow = slack.message(GENERAL, USER, "and then?", thread_ts=asked["ts"])
        await slack.post(http, running.url, slack.event(follow))
        await slack.wait_posted(2)
    assert slack.posted[1].text == "echo: and then?" and slack.posted[1].thread_ts == asked["ts"]


async def test_a_lost_socket_shows_on_readyz_until_it_is_back(
    tmp_path, fake_model, slack, run_daemon
):
    from tests.helpers import FakeClock

    clock = FakeClock()
    config = slack_config(tmp_path, fake_model, slack, mode="socket")
    running = await run_daemon(config, clock=clock)

    async def settles_in(state: str) -> None:
        async with asyncio.timeout(20):
            while running.health.get("state") != state:
                clock.advance(10)
                await asyncio.sleep(0.05)

    await slack.drop(refuse=True)
    await settles_in("degraded")
    assert "reconnecting" in running.health["detail"]
    slack.refuse = False  # the SDK reconnects (it looks every 5 s)
    await settles_in("ready")
    event = slack.event(slack.message(OWNER_DM, OWNER, "back?"))
    await slack.push("events_api", event, "env-9")
    (posted,) = await slack.wait_posted(1)
    assert posted.text == "echo: back?"


async def test_an_image_to_vision_and_an_audio_clip_to_transcription(
    tmp_path, fake_model, slack, run_daemon
):
    vision = {"name": "eyes", "base_url": fake_model.base_url, "model": "v", "vision": True}
    data = slack_data(tmp_path, fake_model, slack)
    data["models"] = [vision]
    data["speech"] = {"base_url": fake_model.base_url, "model": "whisper-test"}
    running = await run_daemon(parse_config(tomli_w.dumps(data), {}))
    webm = b"\x1a\x45\xdf\xa3" + b"\x00" * 12  # Slack records clips as WebM
    picture = {
        "id": "F0IMG",
        "name": "screen.png",
        "mimetype": "image/png",
        "size": 6,
        "url_private_download": slack.add_file("screen.png", b"\x89PNG!"),
    }
    clip = {
        "id": "F0CLIP",
        "name": "audio_message.webm",
        "mimetype": "video/webm",  # what Slack may call an audio clip
        "subtype": "slack_audio",
        "size": len(webm),
        "url_private_download": slack.add_file("audio_message.webm", webm),
    }
    async with aiohttp.ClientSession() as http:
        for text, shared in (("what is this?", picture), ("", clip)):
            message = slack.message(OWNER_DM, OWNER, text, files=[shared])
            await slack.post(http, running.url, slack.event(message))
            await fake_model.wait_requests(len(fake_model.requests) + 1)
    await slack.wait_posted(2)
    seen, heard = (r["messages"][-1]["content"] for r in fake_model.requests)
    assert seen[0]["text"] == "what is this?"
    assert seen[1]["image_url"]["url"] == "data:image/png;base64,iVBORyE="
    assert fake_model.uploads == [
        {"model": "whisper-test", "filename": "audio_message.webm", "size": len(webm)}
    ]
    assert heard == "[voice message] please check the disk"


async def test_pairing_by_block_kit_buttons(tmp_path, fake_model, slack, run_daemon):
    """With pairing_notify the owner gets each new request with Approve and Reject: Approve
    lets the stranger in (and tells them), Reject drops the request; a user may press neither."""
    data = slack_data(tmp_path, fake_model, slack)
    data["access"]["pairing_notify"] = True
    running = await run_daemon(parse_config(tomli_w.dumps(data), {}))
    other = "U0OTHER004"
    async with aiohttp.ClientSession() as http:

        async def post(payload: dict[str, Any], **kw: Any) -> None:
            assert (await slack.post(http, running.url, payload, **kw))[0] == 200

        await post(slack.event(slack.message("D0STRANGE3", STRANGER, "hello?")))
        await post(slack.event(slack.message("D0OTHER004", other, "me too")))
        await slack.wait_for(lambda: len([p for p in slack.posted if p.buttons]) == 2)
        first, second = [p for p in slack.posted if p.buttons]
        assert first.channel == OWNER_DM and STRANGER in first.text
        assert [title for title, _ in first.buttons] == ["Approve", "Reject"]
        await post(slack.block_actions(USER, first, 0), interactive=True)  # a user: refused
        await slack.wait_for(lambda: len(slack.ephemeral) == 1)
        await post(slack.block_actions(OWNER, first, 0), interactive=True)
        await post(slack.block_actions(OWNER, second, 1), interactive=True)
        await slack.wait_for(lambda: len(slack.updates) == 2)
        assert first.text.startswith("Approved ") and "They have been told" in first.text
        assert second.text.startswith("Rejected ") and second.buttons == []
        welcome = [p for p in slack.posted if p.channel == "D0STRANGE3"][-1]
        assert welcome.text.startswith("You're in!")
        await post(slack.event(slack.message("D0STRANGE3", STRANGER, "now?")))
        await slack.wait_for(lambda: slack.posted[-1].text == "echo: now?")
    assert "may not do this" in slack.ephemeral[0]["text"]
    pending = await running.daemon.services.db.fetchall("SELECT user_id FROM pairing")
    assert pending == []  # one approved, one rejected
    assert len(fake_model.requests) == 1
