"""Configuration: one TOML file loaded into frozen pydantic models.

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
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from assistant.core.errors import ConfigError
from assistant.core.redact import MASK, is_secret_key
from assistant.core.roles import Permission, Role

DEFAULT_PATH = Path("/etc/assistant/config.toml")
ENV_FILE_HINT = "/etc/assistant/assistant.env"

DEFAULT_SYSTEM_PROMPT = (
    "You are {name}, a personal assistant people reach through chat. Be brief and direct, "
    "and answer in the language the user writes in. Use a tool when it gives a better "
    "answer than guessing; never invent tool results. If a tool reports an error or a "
    "refusal, say so plainly."
)

_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class AssistantSection(Section):
    name: str = Field("Assistant", min_length=1, max_length=64)
    timezone: str = "UTC"
    state_dir: Path = Path("/var/lib/assistant")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, min_length=1)
    drain_timeout: float = Field(10.0, gt=0, le=600)
    max_concurrent_turns: int = Field(16, ge=1, le=1000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as "
                "'UTC', 'Europe/Berlin' or 'Asia/Shanghai'"
            ) from None
        return value


class AgentSection(Section):
    max_steps: int = Field(8, ge=1, le=50)
    turn_timeout: float = Field(180.0, gt=0)
    history_tokens: int = Field(6000, ge=500)
    tool_timeout: float = Field(60.0, gt=0)
    max_tool_output: int = Field(8000, ge=500)


class ModelProvider(Section):
    name: str = Field(pattern=_NAME)
    api: Literal["openai", "anthropic"] = "openai"
    base_url: str
    api_key: SecretStr | None = None
    model: str = Field(min_length=1)
    max_tokens: int = Field(1024, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    timeout: float = Field(60.0, gt=0)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    vision: bool = False
    stream: bool = True
    fallback: list[str] | None = None

    _blank_key = field_validator("api_key", mode="before")(_blank_to_none)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL; use e.g. 'https://api.openai.com/v1'"
            )
        return value.rstrip("/")


class RoutingRule(Section):
    model: str
    keywords: list[str] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_condition(self) -> RoutingRule:
        if not self.keywords and not self.roles:
            raise ValueError("a routing rule needs 'keywords' or 'roles' (or both)")
        return self


class GatewaySection(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(18789, ge=0, le=65535)
    admin_token: SecretStr | None = None

    _blank_token = field_validator("admin_token", mode="before")(_blank_to_none)


class LoggingSection(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ChannelAccess(Section):
    users: dict[str, Role] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)


class AccessSection(Section):
    owners: list[str] = Field(default_factory=list)
    telegram: ChannelAccess = ChannelAccess()
    feishu: ChannelAccess = ChannelAccess()
    permissions: dict[Role, list[Permission]] = Field(default_factory=dict)

    @field_validator("owners")
    @classmethod
    def _channel_user(cls, value: list[str]) -> list[str]:
        for item in value:
            channel, _, user = item.partition(":")
            if channel not in ("telegram", "feishu") or not user:
                raise ValueError(f"{item!r} is not 'telegram:USER_ID' or 'feishu:OPEN_ID'")
        return value

    def channel(self, name: str) -> ChannelAccess:
        found = getattr(self, name, None)
        return found if isinstance(found, ChannelAccess) else ChannelAccess()


class MemoryEmbeddings(Section):
    """An OpenAI-compatible ``/embeddings`` endpoint, used when ``embedder = "openai"``."""

    base_url: str = ""
    api_key: SecretStr | None = None
    model: str = Field("text-embedding-3-small", min_length=1)
    timeout: float = Field(30.0, gt=0)

    _blank_key = field_validator("api_key", mode="before")(_blank_to_none)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL; use e.g. 'https://api.openai.com/v1'"
            )
        return value.rstrip("/")


class MemoryServer(Section):
    """A Chroma server, used when ``mode = "server"``."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    token: SecretStr | None = None

    _blank_token = field_validator("token", mode="before")(_blank_to_none)


class MemorySection(Section):
    enabled: bool = True
    mode: Literal["embedded", "server"] = "embedded"
    embedder: Literal["local", "openai"] = "local"
    embeddings: MemoryEmbeddings = MemoryEmbeddings()
    server: MemoryServer = MemoryServer()
    recall_top_k: int = Field(5, ge=0, le=50)
    min_similarity: float = Field(0.35, ge=-1, le=1)
    recall_tokens: int = Field(400, ge=0, le=20000)
    dedupe_similarity: float = Field(0.95, gt=0, le=1)
    shared: bool = False
    summaries: bool = True

    @model_validator(mode="after")
    def _embedder_endpoint(self) -> MemorySection:
        if self.enabled and self.embedder == "openai" and not self.embeddings.base_url:
            raise ValueError(
                "embedder = 'openai' needs [memory.embeddings] base_url (and usually api_key); "
                "or use embedder = 'local'"
            )
        return self


class SchedulerSection(Section):
    enabled: bool = True
    misfire_grace: float = Field(3600.0, ge=0)
    min_interval: float = Field(60.0, gt=0)
    check_cooldown: float = Field(600.0, ge=0)
    max_jobs_per_user: int = Field(50, ge=1, le=10000)


class Config(Section):
    assistant: AssistantSection = AssistantSection()
    agent: AgentSection = AgentSection()
    models: list[ModelProvider] = Field(default_factory=list)
    routing: list[RoutingRule] = Field(default_factory=list)
    gateway: GatewaySection = GatewaySection()
    logging: LoggingSection = LoggingSection()
    access: AccessSection = AccessSection()
    memory: MemorySection = MemorySection()
    scheduler: SchedulerSection = SchedulerSection()

    @model_validator(mode="after")
    def _model_references(self) -> Config:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        known = set(names)
        for model in self.models:
            for other in model.fallback or []:
                if other not in known:
                    raise ValueError(
                        f"model {model.name!r} falls back to unknown model {other!r}; "
                        f"known: {', '.join(names) or 'none'}"
                    )
        for rule in self.routing:
            if rule.model not in known:
                raise ValueError(
                    f"routing rule points to unknown model {rule.model!r}; "
                    f"known: {', '.join(names) or 'none'}"
                )
        return self

    def model(self, name: str) -> ModelProvider | None:
        return next((m for m in self.models if m.name == name), None)


class LiveConfig:
    """The config in force; replaced whole on a reload. Readers call ``get()`` per use."""

    def __init__(self, config: Config) -> None:
        self.current = config

    def get(self) -> Config:
        return self.current


# --- loading -------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def find_config_path(explicit: str | Path | None, env: Mapping[str, str]) -> Path:
    """``--config PATH``, then ``$ASSISTANT_CONFIG``, then /etc/assistant/config.toml."""
    if explicit:
        return Path(explicit)
    if env.get("ASSISTANT_CONFIG"):
        return Path(env["ASSISTANT_CONFIG"])
    return DEFAULT_PATH


def load_config(path: Path, env: Mapping[str, str]) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{path}: config file not found; copy config/assistant.example.toml there, "
                "or pass --config PATH or set ASSISTANT_CONFIG"
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
