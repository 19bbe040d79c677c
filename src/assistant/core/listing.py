"""One style for every list the command line prints: one line per item on stdout (tab
separated, one line each whatever the data holds), a sentence when there is nothing, and with
``--json`` a JSON array (``[]`` when empty) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from assistant.core.text import one_line


def row(*fields: object) -> str:
    """Fields as one tab-separated line; an empty field is "-"."""
    return "\t".join(one_line(str(f), 1000) if f not in (None, "") else "-" for f in fields)


def print_list(
    items: Sequence[Mapping[str, Any]],
    *,
    line: Callable[[Mapping[str, Any]], str],
    empty: str,
    as_json: bool,
    out: TextIO | None = None,
) -> None:
    out = out or sys.stdout
    if as_json:
        json.dump(list(items), out, ensure_ascii=False, indent=2, default=str)
        out.write("\n")
    elif not items:
        print(empty, file=out)
    else:
        for item in items:
            print(line(item), file=out)


def json_option(parser: Any) -> Any:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    return parser
