"""The administration subcommands: doctor, backup, restore, migrate.

Importing this module is cheap; each command imports what it needs when it runs.
Commands that touch the state directory run as its owner when started by root (see
``envfile.as_owner``), so ``sudo assistant backup`` never leaves root-owned files behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.core.errors import StateError

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.feature import Finding

Handler = Callable[[argparse.Namespace, Mapping[str, str]], int]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]


def add_commands(command: AddCommand) -> None:
    """Register the subcommands with the CLI's ``command(name, handler, help)`` helper."""
    doctor = command(
        "doctor", cmd_doctor, "check the installation, read-only: ✓/✗ with the fix for each"
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    backup = command(
        "backup", cmd_backup, "write the whole state directory to one archive (while running)"
    )
    backup.add_argument("file", help="the archive to write, e.g. assistant-2026-11-22.tar.gz")
    restore = command(
        "restore", cmd_restore, "replace the state by a backup's (the service must be stopped)"
    )
    restore.add_argument("file", help="an archive written by `assistant backup`")
    command("migrate", cmd_migrate, "bring the state database to this version's schema")


def _quiet_logging() -> None:
    """The commands print what happened; the library's own log lines would only blur it."""
    import sys

    from assistant.core.redact import Redactor
    from assistant.logging import setup_logging

    setup_logging(level="error", fmt="console", redactor=Redactor(), stream=sys.stderr)


def _load(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Path, Config]:
    from assistant.config import find_config_path, load_config

    path = find_config_path(args.config, env)
    return path, load_config(path, env)


def cmd_doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.config import config_source, find_config_path
    from assistant.ops.doctor import failed, render_json, render_text

    _quiet_logging()
    path = find_config_path(args.config, env)
    findings = asyncio.run(_doctor(path, config_source(args.config, env), env))
    print(render_json(findings) if args.json else render_text(findings))
    return 1 if failed(findings) else 0


async def _doctor(path: Path, source: str, env: Mapping[str, str]) -> list[Finding]:
    import aiohttp

    from assistant import __version__
    from assistant.config import load_config
    from assistant.core.errors import ConfigError
    from assistant.feature import CheckContext
    from assistant.ops.checks import all_checks
    from assistant.ops.doctor import run_checks
    from assistant.ops.envfile import env_file_path, env_file_source

    async with aiohttp.ClientSession(
        trust_env=True, headers={"User-Agent": f"assistant/{__version__} doctor"}
    ) as session:
        ctx = CheckContext(
            config_path=path,
            env=env,
            env_file=env_file_path(env, path),
            session=session,
            config_source=source,
            env_file_source=env_file_source(env, path),
        )
        try:
            ctx.config = load_config(path, env)
        except ConfigError as exc:
            ctx.config_problems = exc.problems
        return await run_checks(ctx, all_checks())


def cmd_backup(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.ops.envfile import as_owner
    from assistant.store.backup import create_backup

    _, config = _load(args, env)
    state_dir = config.assistant.state_dir
    _quiet_logging()
    target = Path(args.file)
    partial = target.with_name(target.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateError(f"cannot write {target} ({exc.strerror}); choose another path") from None
    try:
        with os.fdopen(fd, "wb") as out, as_owner(state_dir):
            summary = create_backup(state_dir, out)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = target.stat().st_size
    print(
        f"backed up {', '.join(_top(summary.files))} from {state_dir} to {target} "
        f"({_human(size)}, schema version {summary.schema_version})"
    )
    return 0


def cmd_restore(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.ops.envfile import as_owner
    from assistant.store.backup import restore_backup

    _, config = _load(args, env)
    state_dir = config.assistant.state_dir
    _quiet_logging()
    try:
        archive = open(args.file, "rb")  # noqa: SIM115 - opened as root, read as the owner
    except OSError as exc:
        raise StateError(f"cannot read {args.file} ({exc.strerror})") from None
    with archive, as_owner(state_dir):
        summary = restore_backup(state_dir, archive)
    print(
        f"restored {', '.join(_top(summary.files))} into {state_dir} from a backup made "
        f"{summary.created} by assistant {summary.version}"
    )
    if summary.moved_aside is not None:
        print(f"the previous state was moved to {summary.moved_aside}")
    print("start the assistant again: sudo systemctl start assistant")
    return 0


def cmd_migrate(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from assistant.ops.envfile import as_owner
    from assistant.store import db, lock  # noqa: F401 - imported before giving up root

    _, config = _load(args, env)
    state_dir = config.assistant.state_dir
    _quiet_logging()
    with as_owner(state_dir):
        before, after = asyncio.run(_migrate(state_dir))
    if before == after:
        print(f"{state_dir / 'state.db'} is up to date (schema version {after})")
    else:
        print(f"{state_dir / 'state.db'} migrated from schema version {before} to {after}")
    return 0


async def _migrate(state_dir: Path) -> tuple[int, int]:
    from assistant.store.db import Database, prepare_state_dir
    from assistant.store.lock import state_lock

    prepare_state_dir(state_dir)
    path = state_dir / "state.db"
    with state_lock(state_dir):
        before = _schema_version(path) if path.exists() else 0
        async with Database(path):
            pass  # opening migrates
        return before, _schema_version(path)


def _schema_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _top(files: list[str]) -> list[str]:
    """``chroma/a/b`` → ``chroma/``, once."""
    out: list[str] = []
    for name in files:
        top = name.split("/", 1)[0] + ("/" if "/" in name else "")
        if top not in out:
            out.append(top)
    return out


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
