"""Streamed and split replies through SIGKILLs and a SIGTERM: no fragment left on screen, no
part twice, as each user sees their chat (the fake Bot API's history, edits included).

Every reply streams (Telegram ``stream = true``: a preview message edited as the model
writes), and every third is longer than one Telegram message, so it arrives in two parts.
The daemon is stopped three times, in a random order: while previews are on screen, right
after the first part of a split reply, after some messages went out (the last stop a SIGTERM,
the others SIGKILL), and restarted each time on the same state.

At the end each user message must have exactly its reply's parts on screen, each once, and
no message left showing a cut-off preview. The one exception is the part a stop caught in
flight: its send had begun and the delivery log (read from disk after each stop) says so,
so it may appear one extra time per stop that caught it (for part 0 of a streamed reply, as
a preview left behind).
"""

from __future__ import annotations

import os
import random
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from assistant.channels.telegram.render import render_parts
from tests.fakes.model import FakeModel, Reply, last_user_text
from tests.fakes.telegram import FakeBotAPI, Sent
from tests.faults.daemon import (
    OWNER,
    DaemonProcess,
    daemon_config,
    in_flight,
    unfinished,
    wait_until_finished,
)

pytestmark = [pytest.mark.fault, pytest.mark.slow]

USERS = 4
MESSAGES = 16
KINDS = ("preview", "between-parts", "sends")  # one stop at each, in a random order


def reply_for(text: str) -> str:
    """Every line carries the message's tag, so any part (or preview) says whose it is."""
    number = int(text.split("#")[1])
    lines = 130 if number % 3 == 0 else 6  # 130 lines: about 6,500 characters, two parts
    return "\n".join(f"{text} line {i:03d} " + "x" * 30 for i in range(lines))


def owner_of(sent: Sent, texts: list[str]) -> str:
    first = sent.versions[0]
    tag = first.split(" line ", 1)[0]
    assert tag in texts, f"a message nobody asked for: {first[:80]!r}"
    return tag


async def stop_point(
    kind: str, rng: random.Random, bot: FakeBotAPI, parts: dict[str, list[str]]
) -> None:
    """Wait for a moment of this kind (chosen at random among those)."""
    if kind == "preview":  # a preview is on screen and being edited
        edits = len(bot.edits) + rng.randint(1, 4)
        await bot.wait_for(lambda: len(bot.edits) >= edits, timeout=60)
    elif kind == "between-parts":  # the first part of a split reply has just been finalised
        firsts = {ps[0] for ps in parts.values() if len(ps) > 1}
        seen = sum(1 for s in bot.sent if s.text in firsts)
        await bot.wait_for(lambda: sum(1 for s in bot.sent if s.text in firsts) > seen, timeout=60)
    else:
        sends = len(bot.sent) + rng.randint(1, 6)
        await bot.wait_for(lambda: len(bot.sent) >= sends, timeout=60)


async def test_streamed_and_split_replies_survive_sigkill_and_sigterm(
    tmp_path, bot_api: FakeBotAPI, daemons
):
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    print(f"FAULT_SEED={seed}")  # to replay a failure
    model = await FakeModel().start()

    def respond(body):  # type: ignore[no-untyped-def]
        asked = last_user_text(body)
        if not re.fullmatch(r"u\d+#\d+", asked):  # the history's summary
            return Reply(text="Earlier: long replies.")
        text = reply_for(asked)
        chunk = 40 if len(text) < 1000 else 900
        return Reply(text=text, chunk=chunk, pause=0.08)

    model.responder = respond
    bot_api.send_delay = 0.03  # a window between the parts of a split reply
    try:
        config = daemon_config(
            tmp_path,
            bot_api,
            [model],
            users=USERS,
            telegram={"stream": True},
            assistant={"drain_timeout": 0.5},  # a SIGTERM cuts streams, as SIGKILL does
        )
        proc: DaemonProcess = daemons(config, bot_api)
        state = Path(config["assistant"]["state_dir"])
        texts = [f"u{OWNER + n % USERS + 1}#{n}" for n in range(MESSAGES)]
        parts = {t: [p.text for p in render_parts(reply_for(t), "markdown")] for t in texts}
        kinds = rng.sample(KINDS, len(KINDS))
        stops = len(kinds)
        waves = [texts[i :: stops + 1] for i in range(stops + 1)]
        allowed: Counter[tuple[str, int]] = Counter()  # (text, part) caught in flight
        for wave, batch in enumerate(waves):
            for text in batch:
                user = int(text.split("#")[0][1:])
                await bot_api.user_message(user, user, text)
            await proc.start()
            if wave == stops:
                break
            await stop_point(kinds[wave], rng, bot_api, parts)
            if wave == stops - 1:
                proc.signal(signal.SIGTERM)
                assert await proc.process.wait() == 0  # type: ignore[union-attr]
            else:
                assert await proc.kill() == -9
            allowed.update(in_flight(state))
        await bot_api.wait_for(
            lambda: {s.text for s in bot_api.sent} >= {p for ps in parts.values() for p in ps},
            timeout=120,
        )
        await wait_until_finished(state)
        assert await proc.stop() == 0
    finally:
        await model.close()

    problems = []
    repeats = 0
    shown: dict[str, list[Sent]] = {text: [] for text in texts}
    for user in range(OWNER + 1, OWNER + USERS + 1):
        for sent in bot_api.history(user):
            text = owner_of(sent, texts)
            assert text.startswith(f"u{user}#"), f"{text}'s reply went to chat {user}"
            shown[text].append(sent)
    for text, messages in shown.items():
        on_screen = Counter(m.text for m in messages)
        expected = parts[text]
        lost = [i for i, p in enumerate(expected) if on_screen[p] == 0]
        if lost:
            problems.append(f"{text}: parts {lost} never arrived")
        extra = Counter(on_screen)
        extra.subtract(Counter(expected))
        for final, n in (+extra).items():
            index = expected.index(final) if final in expected else 0  # else: a preview
            repeats += n
            if n > allowed[(text, index)]:
                kind = "part twice" if final in expected else "fragment left"
                problems.append(f"{text}: {kind} {n}x (part {index}): {final[:40]!r}")
    print(f"stops at {kinds}; {repeats} repeats, {sum(allowed.values())} parts in flight")
    assert problems == [], f"seed {seed}, stops {kinds}: {problems}"
    assert unfinished(state) == 0
    assert any(len(s.versions) > 1 for s in bot_api.sent)  # previews were edited in place
    assert proc.errors() == [], proc.errors()
