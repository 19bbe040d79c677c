"""One archive of the whole state: every file and folder of the state directory (``state.db``,
the job stores, ``chroma/``, ``known_hosts``...) except locks, scratch folders and what
earlier restores set aside.

SQLite files (recognised by their header) are copied with SQLite's online backup API, so a
backup taken while the daemon writes is a consistent snapshot of each database, and every
copy must pass ``PRAGMA integrity_check``: a damaged database is never backed up silently.
Other files are copied as they are. The archive is a gzipped tar with a ``MANIFEST.json``
first, which lists every file.

``restore`` needs the state lock exclusively (no daemon, no chat running), checks every
member's name and type before writing anything (only what the manifest lists), checks the
restored databases, and moves what was there before into ``pre-restore-<time>/`` instead of
deleting it.
"""

from __future__ import annotations

import gzip  # noqa: F401 - tarfile imports it lazily: load it while root
import io
import json
import os
import shutil
import sqlite3
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from assistant import __version__
from assistant.core.errors import StateError
from assistant.store.db import integrity_problem, is_damage, is_sqlite
from assistant.store.lock import state_lock
from assistant.store.schema import MIGRATIONS
from assistant.store.scratch import IN_USE, PREFIXES, Scratch

FORMAT = 2  # 1: only state.db, jobs.db and chroma/ (still restored)
MANIFEST = "MANIFEST.json"
_SIDECARS = ("-wal", "-shm", "-journal")
_SET_ASIDE = "pre-restore-"
_DATABASE_SUFFIXES = (".db", ".sqlite3", ".sqlite")


@dataclass(frozen=True, slots=True)
class BackupSummary:
    files: list[str]
    size: int
    schema_version: int


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    files: list[str]
    created: str
    version: str
    moved_aside: Path | None = None


def create_backup(state_dir: Path, out: IO[bytes]) -> BackupSummary:
    """Write the archive of ``state_dir`` to ``out`` (an open binary file)."""
    if not (state_dir / "state.db").is_file():
        raise StateError(
            f"there is no state to back up: {state_dir / 'state.db'} does not exist; check "
            "[assistant] state_dir"
        )
    with state_lock(state_dir), Scratch(state_dir, ".backup-") as scratch:
        names = _copy_tree(state_dir, scratch, state_dir)
        schema = _schema_version(scratch / "state.db")
        manifest = {
            "format": FORMAT,
            "program": "assistant",
            "version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "schema_version": schema,
            "files": names,
        }
        size = 0
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
            for name in names:
                path = scratch / name
                size += path.stat().st_size
                tar.add(path, arcname=name, recursive=False, filter=_private)
    return BackupSummary(files=names, size=size, schema_version=schema)


def restore_backup(state_dir: Path, archive: IO[bytes]) -> RestoreSummary:
    """Replace the state in ``state_dir`` by the archive's; refuses while anything runs."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with state_lock(state_dir, exclusive=True), Scratch(state_dir, ".restore-") as scratch:
        try:
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                manifest = _extract(tar, scratch)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise StateError(f"not a readable assistant backup ({exc})") from None
        _check_restored(scratch, manifest)
        aside: Path | None = None
        old = [path for path in state_dir.iterdir() if is_state(path.name)]
        if old:
            aside = state_dir / time.strftime(f"{_SET_ASIDE}%Y%m%dT%H%M%S")
            aside.mkdir(mode=0o700)
            for path in old:
                path.rename(aside / path.name)
        for path in scratch.iterdir():
            if path.name != IN_USE:
                path.rename(state_dir / path.name)
    return RestoreSummary(
        files=list(manifest["files"]),
        created=str(manifest.get("created", "?")),
        version=str(manifest.get("version", "?")),
        moved_aside=aside,
    )


# --- helpers -------------------------------------------------------------------------------


def is_state(name: str) -> bool:
    """Whether a top-level entry of the state directory is state (backed up, and replaced by
    a restore): not a lock, a scratch folder or what an earlier restore set aside."""
    return not (
        name.endswith(".lock")
        or name.startswith((*PREFIXES, _SET_ASIDE))
        or name == "lost+found"  # a state directory that is a file system of its own
    )


def _copy_database(source: Path, target: Path, name: str) -> None:
    """A consistent copy of a live database, refused unless SQLite finds the copy sound."""
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                problem = integrity_problem(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise StateError(f"cannot copy {source}: {exc}") from exc
        problem = str(exc)
    if problem is not None:
        raise StateError(
            f"{name} is damaged ({problem}); it was not backed up. Keep your last good backup: "
            "restore it with `assistant restore` (docs/troubleshooting.md#damaged-state)"
        )


def _copy_tree(source: Path, target: Path, base: Path) -> list[str]:
    names: list[str] = []
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        if here == base:
            dirs[:] = [d for d in dirs if is_state(d)]
            files = [f for f in files if is_state(f)]
        dirs.sort()
        (target / here.relative_to(source)).mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in sorted(files, key=lambda n: (n != "state.db", n)):  # state.db first
            path = here / name
            if name.endswith(_SIDECARS) or path.is_symlink() or not path.is_file():
                continue  # sidecars: the backup API reads them through their database
            copy = target / path.relative_to(source)
            relative = str(path.relative_to(base))
            if is_sqlite(path):
                _copy_database(path, copy, relative)
            else:
                shutil.copyfile(path, copy)
            names.append(relative)
    return names


def _schema_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, PurePosixPath]]:
    for member in tar:
        path = PurePosixPath(member.name)
        if (
            not path.parts
            or path.is_absolute()
            or ".." in path.parts
            or not is_state(path.parts[0])
            or path.parts[-1] == IN_USE
            or not (member.isfile() or member.isdir())
        ):
            raise ValueError(f"unexpected member {member.name!r}")
        yield member, path


def _extract(tar: tarfile.TarFile, target: Path) -> dict[str, Any]:
    manifest: dict[str, Any] | None = None
    for member, path in _members(tar):
        if member.isdir():
            continue
        source = tar.extractfile(member)
        assert source is not None
        if member.name == MANIFEST:
            manifest = json.loads(source.read(1 << 20))
            if not isinstance(manifest, dict) or manifest.get("program") != "assistant":
                raise ValueError("its manifest is not an assistant manifest")
            continue
        if manifest is None:
            raise ValueError(f"{MANIFEST} is missing (it comes first)")
        if member.name not in manifest.get("files", []):
            raise ValueError(f"unexpected member {member.name!r}")
        dest = target.joinpath(*path.parts)
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out)
    if manifest is None:
        raise ValueError(f"{MANIFEST} is missing")
    return manifest


def _check_restored(folder: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") not in (1, FORMAT):
        raise StateError(
            f"this backup has format {manifest.get('format')!r}; this program reads format "
            f"{FORMAT}: restore it with the version that made it ({manifest.get('version')})"
        )
    newest = len(MIGRATIONS)
    if int(manifest.get("schema_version", 0)) > newest:
        raise StateError(
            f"this backup was made by a newer assistant ({manifest.get('version')}, schema "
            f"{manifest.get('schema_version')}; this one understands {newest}); upgrade first"
        )
    if not (folder / "state.db").is_file():
        raise StateError("the backup has no state.db; it is not an assistant backup")
    missing = [n for n in manifest.get("files", []) if not (folder / n).exists()]
    if missing:
        raise StateError(f"the backup is incomplete: {', '.join(missing)} missing")
    for name in manifest.get("files", []):
        path = folder / name
        if path.is_file() and (is_sqlite(path) or path.suffix in _DATABASE_SUFFIXES):
            conn = sqlite3.connect(path)
            try:
                result = integrity_problem(conn, quick=True)
            except sqlite3.Error as exc:
                result = str(exc)
            finally:
                conn.close()
            if result is not None:
                raise StateError(f"{name} in the backup is damaged ({result})")
