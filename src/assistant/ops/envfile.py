"""The secrets file (``/etc/assistant/assistant.env``), read the way systemd reads an
``EnvironmentFile=``, so that ``sudo assistant doctor`` sees what the service sees.

Variables already in the environment win over the file's. ``$ASSISTANT_ENV_FILE`` names
another file; set it empty to read none.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from assistant.config import ENV_FILE_HINT

_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def env_file_path(environ: Mapping[str, str], config: Path | None = None) -> Path | None:
    """``$ASSISTANT_ENV_FILE``; else ``assistant.env`` beside a config file other than the
    installed one (``assistant init`` writes both); else /etc/assistant/assistant.env."""
    if "ASSISTANT_ENV_FILE" in environ:
        value = environ["ASSISTANT_ENV_FILE"]
        return Path(value) if value else None
    if config is not None and config.resolve().parent != Path(ENV_FILE_HINT).parent:
        return config.resolve().parent / "assistant.env"
    return Path(ENV_FILE_HINT)


def env_file_source(environ: Mapping[str, str], config: Path | None = None) -> str:
    """Why ``env_file_path`` chose the file it chose, in words for a person."""
    if "ASSISTANT_ENV_FILE" in environ:
        return "named by $ASSISTANT_ENV_FILE"
    if config is not None and config.resolve().parent != Path(ENV_FILE_HINT).parent:
        return "beside the config file (no $ASSISTANT_ENV_FILE)"
    return "the default: no $ASSISTANT_ENV_FILE"


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` lines; ``#``/``;`` comments; single or double quotes around a value."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            continue  # systemd ignores such lines too
        key, value = match.group(1), match.group(2).strip()
        quote = value[0] if len(value) >= 2 and value[0] == value[-1] in "'\"" else ""
        if quote:
            value = value[1:-1]
        if quote == '"':
            value = re.sub(r"\\(.)", r"\1", value)
        values[key] = value
    return values


def with_env_file(environ: Mapping[str, str], config: Path | None = None) -> dict[str, str]:
    """The environment, completed from the secrets file when this user may read it."""
    env = dict(environ)
    path = env_file_path(environ, config)
    if path is None:
        return env
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return env  # absent, or readable only by root: the service gets it from systemd
    for key, value in parse_env_file(text).items():
        env.setdefault(key, value)
    return env


@contextmanager
def as_owner(path: Path) -> Iterator[None]:
    """Act as the owner of ``path`` when root works on the service user's state.

    Files root creates in the state directory (a database's ``-wal``, a restored file) would
    be unwritable for the service afterwards. Only the effective ids change, so root's files
    opened before (the backup archive) stay usable, and root comes back at the end. Import
    what the body needs before: the service user may not read every module's folder.
    """
    try:
        st = path.stat()
    except OSError:
        st = None
    if os.geteuid() != 0 or st is None or st.st_uid == 0:
        yield
        return
    groups = os.getgroups()
    try:
        name = pwd.getpwuid(st.st_uid).pw_name
        os.setgroups(os.getgrouplist(name, st.st_gid))
    except KeyError:
        os.setgroups([st.st_gid])
    os.setegid(st.st_gid)
    os.seteuid(st.st_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)
