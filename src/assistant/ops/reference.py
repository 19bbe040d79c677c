"""The configuration reference (docs/reference.md), generated so it cannot drift.

Keys, types, limits and defaults come from the pydantic models in ``assistant.config``; what
each key means comes from the comments of ``config/assistant.example.toml`` (the comment
block right above a key or a section header, or a ``#   key   text`` table above a
``[[array]]``). A test fails when the committed file differs from what this prints:

    python -m assistant.ops.reference > docs/reference.md
"""

from __future__ import annotations

import enum
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from assistant.config import Config

EXAMPLE = Path(__file__).parents[3] / "config" / "assistant.example.toml"

_HEADER = re.compile(r"^\[(\[)?([A-Za-z0-9_.]+)\]?\]$")
_COMMENTED_HEADER = re.compile(r"^#\s*\[(\[)?([A-Za-z0-9_.]+)\]?\]\s*(#.*)?$")
_TABLE_ROW = re.compile(r"^#\s{3,}([a-z_]+)\s{2,}(\S.*)$")
_COMMENTED_KEY = re.compile(r"^#\s*([a-z_]+)\s*=\s*(.*)$")
_KEY = re.compile(r"^([A-Za-z0-9_\"]+)\s*=")
_RULE = re.compile(r"^-{3,}$")

Where = tuple[str, ...]


def comments(text: str) -> dict[Where, str]:
    """What the example file says about each key path, e.g. ("gateway", "port")."""
    found: dict[Where, str] = {}
    section: Where = ()
    prose: list[str] = []
    examples: list[str] = []
    rows: dict[str, str] = {}

    def record(where: Where) -> None:
        text = " ".join([*prose, *(f"Example: `{e}`." for e in examples)]).strip()
        if text and (prose or where not in found):  # an example alone never replaces prose
            found[where] = text

    def enter(name: str, is_array: bool) -> None:
        nonlocal section, prose, examples, rows
        where = tuple(name.split("."))
        record(where)
        section = where
        if is_array:
            for key, meaning in rows.items():
                found.setdefault((*where, key), meaning)
            rows = {}
        prose, examples = [], []

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            prose, examples = [], []
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if match := _COMMENTED_HEADER.match(line):
                enter(match.group(2), bool(match.group(1)))
            elif match := _TABLE_ROW.match(raw):
                rows[match.group(1)] = match.group(2)
            elif match := _COMMENTED_KEY.match(line):
                examples.append(f"{match.group(1)} = {match.group(2)}".strip())
                record((*section, match.group(1)))
                prose, examples = [], []
            elif body and not _RULE.match(body) and not body.endswith(":"):
                prose.append(body)  # a line ending in ":" introduces a table or a list
            continue
        if match := _HEADER.match(line):
            enter(match.group(2), bool(match.group(1)))
        elif match := _KEY.match(line):
            record((*section, match.group(1).strip('"')))
            prose, examples = [], []
    return found


def render(example_text: str) -> str:
    said = comments(example_text)
    sections = list(_sections(Config, ()))
    # a key documented once (e.g. under [access.telegram]) explains its twins too
    by_model: dict[tuple[type[BaseModel], str], str] = {}
    for where, model, _ in sections:
        for key in model.model_fields:
            if said.get((*where, key)):
                by_model.setdefault((model, key), said[(*where, key)])
    out = [
        "# Configuration reference",
        "",
        "Every key of `/etc/assistant/config.toml`. This page is generated from the program's",
        "config models and the comments of",
        "[config/assistant.example.toml](../config/assistant.example.toml): do not edit it by",
        "hand; run `python -m assistant.ops.reference > docs/reference.md`. How the file works",
        "(environment variables, reloading, errors) is in [configuration.md](configuration.md).",
        "",
    ]
    for where, model, is_array in sections:
        name = ".".join(where)
        out.append(f"## `[[{name}]]`" if is_array else f"## `[{name}]`")
        out.append("")
        if said.get(where):
            out += [_cell(said[where], table=False), ""]
        if is_array:
            out += ["Zero or more entries; each has these keys.", ""]
        out += ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        for key, field in model.model_fields.items():
            if submodel(field.annotation) is not None and not _is_list(field.annotation):
                title = f"[{name}.{key}]"
                out.append(f"| `{key}` | table | | see [`{title}`](#{_anchor(title)}) |")
                continue
            out.append(
                f"| `{key}` | {_type(field)} | {_default(field)} | "
                f"{_cell(said.get((*where, key)) or by_model.get((model, key), ''))} |"
            )
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _anchor(title: str) -> str:
    """The id GitHub gives a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


Section = tuple[Where, type[BaseModel], bool]  # path, model, is an [[array]]


def _sections(model: type[BaseModel], where: Where) -> Iterator[Section]:
    for key, field in model.model_fields.items():
        sub = submodel(field.annotation)
        if sub is None:
            continue
        here = (*where, key)
        yield here, sub, _is_list(field.annotation)
        yield from _sections(sub, here)


def submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _type(field: FieldInfo) -> str:
    text = _type_name(field.annotation)
    limits = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                limits.append(f"{sign} {shown}")
        if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            limits.append(f"at least {item.min_length} long")
        if isinstance(item, annotated_types.MaxLen):
            limits.append(f"at most {item.max_length} long")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            limits.append(f"matching `{pattern}`")
    return text + (f" ({', '.join(limits)})" if limits else "")


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kinds = [_type_name(a) for a in args if a is not type(None)]
        optional = type(None) in args
        return " or ".join(kinds) + (", optional" if optional else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        value = submodel(args[1])
        shown = (
            "table of " + ", ".join(f"`{k}`" for k in value.model_fields)
            if value is not None
            else _type_name(args[1])
        )
        return f"table: {_type_name(args[0])} → {shown}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    if annotation is SecretStr:
        return "secret string"
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, str) and len(value) > 40:
        return "built in"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _cell(text: str, *, table: bool = True) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("|", "\\|") if table else text


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE
    sys.stdout.write(render(path.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
