"""The doctor's look at the state itself: are the databases sound, is anything left behind."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from assistant.feature import CheckContext, Finding, Status, skipped_without_config
from assistant.store.db import integrity_problem, is_sqlite
from assistant.store.scratch import PREFIXES

_RESTORE = (
    "stop the service and restore the last good backup: sudo systemctl stop assistant; "
    "sudo assistant restore BACKUP.tar.gz ({doc}, section Damaged state)"
)


async def check_state_data(ctx: CheckContext) -> list[Finding]:
    name = "state data"
    if ctx.config is None:
        return skipped_without_config(name)
    state = ctx.config.assistant.state_dir
    databases = _databases(state)
    if not databases:
        return [Finding(name, Status.OK, "no state yet (created at the first start)")]
    findings = []
    sound = []
    for path in databases:
        problem = await asyncio.to_thread(_problem, path)
        relative = str(path.relative_to(state))
        if problem is None:
            sound.append(relative)
        else:
            findings.append(
                Finding(
                    name,
                    Status.FAIL,
                    f"{relative} is damaged: {problem}",
                    _RESTORE.format(doc=ctx.doc("troubleshooting.md")),
                )
            )
    if sound:
        findings.insert(0, Finding(name, Status.OK, f"integrity_check ok: {', '.join(sound)}"))
    leftovers = sorted(p.name for p in state.iterdir() if p.name.startswith(PREFIXES))
    if leftovers:
        findings.append(
            Finding(
                name,
                Status.WARN,
                f"{', '.join(leftovers)}: left by a backup or restore that was cut off",
                "nothing to do: the next start or backup removes them",
            )
        )
    return findings


def _databases(state: Path) -> list[Path]:
    """The SQLite files of the state: at its top level and in chroma/."""
    if not state.is_dir():
        return []
    found = []
    for folder in (state, state / "chroma"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_symlink() or not path.is_file():
                continue
            if path.name == "state.db" or is_sqlite(path):
                found.append(path)
    return found


def _problem(path: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        return integrity_problem(conn)
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
