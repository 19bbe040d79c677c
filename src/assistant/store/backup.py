"""One archive of the whole state: ``state.db``, ``jobs.db`` and ``chroma/``.

SQLite files are copied with SQLite's online backup API, so a backup taken while the daemon
writes is a consistent snapshot of each database; other files (the vector index) are copied
as they are. The archive is a gzipped tar with a ``MANIFEST.json`` first.

``restore`` needs the state lock exclusively (no daemon, no chat running), checks every
member's name and type before writing anything, checks the restored databases, and moves
what was there before into ``pre-restore-<time>/`` instead of deleting it.
"""

from __future__ import annotations

import gzip  # noqa: F401 - tarfile imports it lazily: load it while root
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from assistant import __version__
from assistant.core.errors import StateError
from assistant.store.lock import LOCK_NAME, state_lock
from assistant.store.schema import MIGRATIONS

FORMAT = 1
MANIFEST = "MANIFEST.json"
DATABASES = ("state.db", "jobs.db")
DIRECTORIES = ("chroma",)
_SQLITE_SUFFIXES = (".db", ".sqlite3", ".sqlite")
_SIDECARS = ("-wal", "-shm", "-journal")


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
    with state_lock(state_dir), _scratch(state_dir, ".backup-") as scratch:
        names: list[str] = []
        for name in DATABASES:
            if (state_dir / name).is_file():
                _copy_database(state_dir / name, scratch / name)
                names.append(name)
        for folder in DIRECTORIES:
            if (state_dir / folder).is_dir():
                names.extend(_copy_tree(state_dir / folder, scratch / folder, state_dir))
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
    with state_lock(state_dir, exclusive=True), _scratch(state_dir, ".restore-") as scratch:
        try:
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                manifest = _extract(tar, scratch)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise StateError(f"not a readable assistant backup ({exc})") from None
        _check_restored(scratch, manifest)
        aside: Path | None = None
        names = [*(d + s for d in DATABASES for s in ("", *_SIDECARS)), *DIRECTORIES]
        old = [state_dir / n for n in names if (state_dir / n).exists()]
        if old:
            aside = state_dir / time.strftime("pre-restore-%Y%m%dT%H%M%S")
            aside.mkdir(mode=0o700)
            for path in old:
                path.rename(aside / path.name)
        for name in (*DATABASES, *DIRECTORIES):
            if (scratch / name).exists():
                (scratch / name).rename(state_dir / name)
    return RestoreSummary(
        files=list(manifest["files"]),
        created=str(manifest.get("created", "?")),
        version=str(manifest.get("version", "?")),
        moved_aside=aside,
    )


# --- helpers -------------------------------------------------------------------------------


class _scratch:
    """A private temporary folder inside the state directory (same file system, same owner)."""

    def __init__(self, parent: Path, prefix: str) -> None:
        self._parent, self._prefix = parent, prefix
        self._path: Path | None = None

    def __enter__(self) -> Path:
        try:
            self._path = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._parent))
        except OSError as exc:
            raise StateError(
                f"cannot write in the state directory {self._parent} ({exc.strerror}); run as "
                "root or as the service user"
            ) from None
        return self._path

    def __exit__(self, *exc_info: object) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)


def _copy_database(source: Path, target: Path) -> None:
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StateError(f"cannot copy {source}: {exc}") from exc


def _copy_tree(source: Path, target: Path, base: Path) -> list[str]:
    names: list[str] = []
    for folder, dirs, files in os.walk(source):
        dirs.sort()
        here = Path(folder)
        (target / here.relative_to(source)).mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in sorted(files):
            if name.endswith(_SIDECARS):
                continue  # the backup API reads them through the database
            path = here / name
            copy = target / path.relative_to(source)
            if name.endswith(_SQLITE_SUFFIXES):
                _copy_database(path, copy)
            else:
                shutil.copyfile(path, copy)
            names.append(str(path.relative_to(base)))
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
        allowed = path.parts and (
            member.name in (MANIFEST, *DATABASES) or path.parts[0] in DIRECTORIES
        )
        if (
            not allowed
            or path.is_absolute()
            or ".." in path.parts
            or LOCK_NAME in path.parts
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
        dest = target.joinpath(*path.parts)
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out)
    if manifest is None:
        raise ValueError(f"{MANIFEST} is missing")
    return manifest


def _check_restored(folder: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
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
    for name in DATABASES:
        if (folder / name).is_file():
            conn = sqlite3.connect(folder / name)
            try:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.Error as exc:
                result = str(exc)
            finally:
                conn.close()
            if result != "ok":
                raise StateError(f"{name} in the backup is damaged ({result})")
