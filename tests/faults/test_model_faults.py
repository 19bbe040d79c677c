"""The first model provider fails (HTTP 500, no answer in time, malformed JSON, an SSE stream
cut in the middle): the next one answers, and the user sees only that answer (replies stream
into one message, as configured by default). Every provider fails: a clear message within
the turn deadline, and the next message is answered as usual."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.model import CutStream, Fail, FakeModel, Hang, Malformed, Reply, last_user_text
from tests.faults.daemon import OWNER, daemon_config

pytestmark = [pytest.mark.fault, pytest.mark.slow]

TURN_TIMEOUT = 10
FAULTS = {
    "server error": Fail(500, "upstream exploded"),
    "no answer in time": Hang(),
    "malformed JSON": Malformed(),
    "stream cut in the middle": CutStream("partial answer that never"),
}


async def test_fallback_to_the_next_provider_and_a_clear_message_when_all_fail(
    tmp_path, bot_api, daemons
):
    first, second = await FakeModel().start(), await FakeModel().start()

    def first_answers(body: dict[str, Any]) -> Any:
        text = last_user_text(body)
        return FAULTS.get(text) or (Hang() if text == "everyone fails" else None)

    def second_answers(body: dict[str, Any]) -> Any:
        text = last_user_text(body)
        return Hang() if text == "everyone fails" else Reply(text=f"from m1: {text}", chunk=3)

    first.responder, second.responder = first_answers, second_answers
    models = [
        {"name": f"m{i}", "base_url": m.base_url, "model": "fake", "timeout": 2, "stream": True}
        for i, m in enumerate((first, second))
    ]
    config = daemon_config(
        tmp_path,
        bot_api,
        models,
        users=len(FAULTS) + 1,
        telegram={"stream": True},
        agent={"turn_timeout": TURN_TIMEOUT},
    )
    proc = daemons(config, bot_api)
    try:
        await proc.start()
        await proc.wait_ready()
        users = {text: OWNER + n for n, text in enumerate([*FAULTS, "everyone fails"], start=1)}
        available = {}
        for text, user in users.items():
            update = await bot_api.user_message(user, user, text)
            available[text] = bot_api.available_at[update["update_id"]]

        def chat(user: int) -> list[str]:
            return [s.text for s in bot_api.sent if s.chat_id == user]

        try:
            await bot_api.wait_for(
                lambda: (
                    all(chat(users[t]) == [f"from m1: {t}"] for t in FAULTS)
                    and bool(chat(users["everyone fails"]))
                ),
                timeout=TURN_TIMEOUT + 20,
            )
        except TimeoutError:
            raise AssertionError({t: chat(u) for t, u in users.items()}) from None
        for text in FAULTS:  # the fault happened, and the user saw only the answer
            assert text in [last_user_text(r) for r in first.requests]
            assert chat(users[text]) == [f"from m1: {text}"]
        assert not any("partial answer" in s.text for s in bot_api.sent)

        failed = next(s for s in bot_api.sent if s.chat_id == users["everyone fails"])
        assert failed.text.startswith("Sorry, "), failed.text
        assert "no model answered" in failed.text or "took longer than" in failed.text
        assert failed.at - available["everyone fails"] <= TURN_TIMEOUT + 1.5

        user = users["everyone fails"]
        await bot_api.user_message(user, user, "and now?")  # nothing is stuck
        await bot_api.wait_for(lambda: chat(user)[-1] == "echo: and now?", timeout=15)
        assert proc.events("turn.failed") == []
    finally:
        await first.close()
        await second.close()
