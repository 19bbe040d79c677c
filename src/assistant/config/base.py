"""The base of every config section, and validators they share."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def blank_to_none(value: Any) -> Any:
    """Validator: an empty string (e.g. an unset ``${VAR:-}``) means "not set"."""
    return None if isinstance(value, str) and not value.strip() else value


def http_url(value: str) -> str:
    """Validator: an http(s) URL, without a trailing slash."""
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL; use e.g. 'https://api.openai.com/v1'")
    return value.rstrip("/")
