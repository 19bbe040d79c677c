"""Loading: TOML → ``${ENV}`` interpolation → validation, every problem named with its fix.

``load_config(path, env)`` reads the file, replaces ``${NAME}`` (and ``${NAME:-default}``)
with values from ``env`` and validates. Every problem is collected and raised together as a
``ConfigError`` whose lines name the key path and the fix.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from assistant.config.root import Config
from assistant.core.errors import ConfigError
from assistant.core.redact import MASK, is_secret_key
from assistant.core.roles import Permission, Role

DEFAULT_PATH = Path("/etc/assistant/config.toml")
ENV_FILE_HINT = "/etc/assistant/assistant.env"

_ENV_REF = re.compile(r"\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


LOCAL_NAME = "assistant.toml"  # what `assistant init` writes in a checkout


def find_config_path(explicit: str | Path | None, env: Mapping[str, str]) -> Path:
    """``--config PATH``, then ``$ASSISTANT_CONFIG``, then ``./assistant.toml`` when it
    exists (written by ``assistant init``), then /etc/assistant/config.toml."""
    if explicit:
        return Path(explicit)
    if env.get("ASSISTANT_CONFIG"):
        return Path(env["ASSISTANT_CONFIG"])
    if Path(LOCAL_NAME).is_file():
        return Path(LOCAL_NAME)
    return DEFAULT_PATH


def config_source(explicit: str | Path | None, env: Mapping[str, str]) -> str:
    """Why ``find_config_path`` chose the file it chose, in words for a person."""
    if explicit:
        return "given with --config"
    if env.get("ASSISTANT_CONFIG"):
        return "named by $ASSISTANT_CONFIG"
    if Path(LOCAL_NAME).is_file():
        return "./assistant.toml here (written by `assistant init`)"
    return "the default: no --config, no $ASSISTANT_CONFIG, no ./assistant.toml"


def load_config(path: Path, env: Mapping[str, str]) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{path}: config file not found; run `assistant init` to write a local "
                "one here, copy config/assistant.example.toml there, or pass --config PATH "
                "or set ASSISTANT_CONFIG"
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            [f"{path}: cannot read config file ({reason}); fix its permissions or encoding"]
        ) from None
    return parse_config(text, env, source=str(path))


def parse_config(text: str, env: Mapping[str, str], *, source: str = "config") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: invalid TOML: {exc}"]) from None
    problems: list[str] = []
    data = _interpolate(raw, env, (), problems, source)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        # a missing variable already explains why its key holds an empty value
        unset = {p.split(": ", 2)[1] for p in problems}
        problems.extend(p for p in _describe(exc, source) if p.split(": ", 2)[1] not in unset)
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def _interpolate(
    value: Any, env: Mapping[str, str], path: tuple[str | int, ...], problems: list[str], src: str
) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(1):
                return "$"
            name, default = match.group(2), match.group(3)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                f"{src}: {_dotted(path)}: environment variable {name} is not set; set it in "
                f"the environment or in {ENV_FILE_HINT}, or write ${{{name}:-default}}"
            )
            return ""

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, (*path, k), problems, src) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, (*path, i), problems, src) for i, v in enumerate(value)]
    return value


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(exc: ValidationError, source: str) -> Iterator[str]:
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
        where = _dotted(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if known and not close:
                hint = f"; known keys here: {', '.join(known)}"
            yield f"{source}: {where}: unknown key, remove it or fix its spelling{hint}"
        elif kind == "missing":
            yield f"{source}: {where}: required key is missing; add it"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            got = error.get("input")
            secret = any(isinstance(p, str) and (is_secret_key(p) or p == "headers") for p in loc)
            shown = ""
            if (
                not secret
                and isinstance(got, str | int | float | bool)
                and len(str(got)) < 60
                and repr(got) not in message
            ):
                shown = f" (got {got!r})"
            yield f"{source}: {where}: {message}{shown}"


def _is_union_tag(part: str | int) -> bool:
    # pydantic inserts the chosen type into locations of union-typed fields
    return isinstance(part, str) and (part.startswith(("function-", "lax-")) or "[" in part)


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _unwrap(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


# --- output --------------------------------------------------------------------------------


def secret_values(value: Any) -> Iterator[str]:
    """Every secret string in the config: the redactor masks these wherever they appear."""
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from secret_values(item)


def masked_dump(config: Config) -> dict[str, Any]:
    """The effective config as plain data, secrets shown as ``**********``."""
    return typing.cast(dict[str, Any], _plain(config))


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, BaseModel):
        out = {}
        for name in type(value).model_fields:
            item = _plain(getattr(value, name))
            if item is not None:
                out[name] = item
        return out
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Role | Permission):
        return value.value
    return value
