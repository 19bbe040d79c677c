"""``assistant inbox dead-letters``: what the channels could not parse or record.

Works on the state database of the config, next to a running daemon (SQLite WAL). ``--retry``
only asks: the running daemon takes the letter again within seconds (or at its next start),
drops it when it goes through, and keeps it with the new error when it fails again.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any, TextIO

from assistant.config import Config
from assistant.store.db import Database, prepare_state_dir
from assistant.store.dead_letters import DeadLetter, DeadLetters

RETRY_WITHIN = 5  # seconds (app.DEAD_LETTER_CHECK)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _line(letter: DeadLetter) -> str:
    ref = f" {letter.ref}" if letter.ref else ""
    retry = "  (retry asked)" if letter.retry_requested_at is not None else ""
    payload = letter.payload if len(letter.payload) <= 120 else letter.payload[:119] + "…"
    return (
        f"{letter.id}\t{_when(letter.created_at)}\t{letter.channel}\t{letter.source}{ref}\t"
        f"{letter.attempts}x\t{letter.error}{retry}\n\t{payload}"
    )


async def dead_letters_command(config: Config, args: Any, out: TextIO) -> int:
    prepare_state_dir(config.assistant.state_dir)
    async with Database(config.assistant.state_dir / "state.db") as db:
        letters = DeadLetters(db)
        if args.retry is not None:
            if not await letters.request_retry(args.retry):
                print(f"error: there is no dead letter {args.retry}", file=sys.stderr)
                return 1
            print(
                f"dead letter {args.retry} will be taken again within {RETRY_WITHIN} seconds "
                "if the assistant is running, else when it starts; see the list for the outcome",
                file=out,
            )
            return 0
        if args.drop is not None:
            if not await letters.drop(args.drop):
                print(f"error: there is no dead letter {args.drop}", file=sys.stderr)
                return 1
            print(f"dropped dead letter {args.drop}", file=out)
            return 0
        found = await letters.all()
    if args.json:
        rows: list[dict[str, Any]] = [asdict(letter) for letter in found]
        print(json.dumps(rows, ensure_ascii=False, indent=2), file=out)
        return 0
    for letter in found:
        print(_line(letter), file=out)
    print(f"({len(found)} dead letters)", file=sys.stderr)
    return 0
