"""SIGHUP to the running daemon: a broken config is refused and the old one keeps serving
(users notice nothing); a valid one applies at once (a new user is let in, the new system
prompt reaches the model), with no restart."""

from __future__ import annotations

import copy
import signal

import pytest

from tests.fakes.model import FakeModel
from tests.faults.daemon import OWNER, daemon_config

pytestmark = [pytest.mark.fault, pytest.mark.slow]

NEWCOMER = 5005


async def test_sighup_broken_config_keeps_serving_valid_config_applies(tmp_path, bot_api, daemons):
    model = await FakeModel().start()
    config = daemon_config(tmp_path, bot_api, [model], assistant={"system_prompt": "Be terse."})
    proc = daemons(config, bot_api)
    try:
        await proc.start()
        await proc.wait_ready()
        pid = proc.pid

        async def ask(user: int, text: str) -> str:
            count = len(bot_api.sent)
            await bot_api.user_message(user, user, text)
            sent = await bot_api.wait_sent(count + 1, timeout=30)
            return sent[count].text

        assert await ask(OWNER, "one") == "echo: one"
        assert "pairing code" in await ask(NEWCOMER, "let me in")

        proc.config_path.write_text(proc.config_path.read_text() + "\n[assistant]\nname = 1\n")
        proc.signal(signal.SIGHUP)
        await proc.wait_event("config.reload_refused")
        refused = proc.events("config.reload_refused")[-1]
        assert refused["level"] == "error" and refused["problems"], refused
        to_newcomer = sum(s.chat_id == NEWCOMER for s in bot_api.sent)
        await bot_api.user_message(NEWCOMER, NEWCOMER, "still me")
        assert await ask(OWNER, "two") == "echo: two"  # the old config keeps serving
        assert model.requests[-1]["messages"][0]["content"].startswith("Be terse.")
        # updates are taken in order: the newcomer's was handled before the owner's answer
        assert sum(s.chat_id == NEWCOMER for s in bot_api.sent) == to_newcomer
        assert "still me" not in str(model.requests)  # still a stranger
        assert (await proc.readyz())[0] == 200

        valid = copy.deepcopy(config)
        valid["assistant"]["system_prompt"] = "Be kind."
        valid["access"]["telegram"]["users"][str(NEWCOMER)] = "user"
        proc.write(valid)
        proc.signal(signal.SIGHUP)
        await proc.wait_event("config.reloaded")
        assert sorted(proc.events("config.reloaded")[-1]["applied"]) == [
            "access.telegram",
            "assistant.system_prompt",
        ]
        assert await ask(NEWCOMER, "am I in?") == "echo: am I in?"
        assert model.requests[-1]["messages"][0]["content"].startswith("Be kind.")
        assert proc.pid == pid and proc.running  # no restart
        assert await proc.stop() == 0
    finally:
        await model.close()
