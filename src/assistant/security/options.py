"""Command-line options checked against a specification: which flags a command may get, the
shape of their values and of its arguments. ``parse`` reads words the way getopt-style tools
do (``-tlnp``, ``-n5``, ``-n 5``, ``--lines=5``, ``--lines 5``, ``--``, BSD ``ps aux``) and
raises ``NotReadOnly`` at the first word the specification does not list."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Pattern = re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Spec:
    """One read-only command form.

    ``flags`` maps each allowed flag (``-n``, ``--no-pager``) to the pattern of its value, or
    None when it takes none. Single-letter flags combine (``-tlnp``, ``-n5``); long ones take
    ``--name=value`` or ``--name value``. ``args`` is the pattern every positional argument
    must match (none allowed when None), at most ``max_args`` of them; ``sub`` lists the
    subcommands one of which must be the first positional (``systemctl status``).
    ``bsd`` lists the letters a dash-less option word may combine (``ps aux``).
    ``required`` flags must all be present (``top`` only with ``-b`` and ``-n``).
    """

    name: str
    flags: Mapping[str, Pattern | None] = field(default_factory=dict)
    args: Pattern | None = None
    max_args: int = 0
    sub: tuple[str, ...] = ()
    bsd: frozenset[str] = frozenset()
    digits: bool = False  # -NUM as a count (head -5)
    whole_words: bool = False  # options are whole words, never combined (ip -br)
    required: frozenset[str] = frozenset()
    check: Callable[[Parsed], str | None] | None = None
    summary: str = ""  # for the documentation


@dataclass(slots=True)
class Parsed:
    flags: dict[str, list[str | None]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


class NotReadOnly(ValueError):
    """Why a command is not one of the read-only forms."""


def flags(*names: str, value: Pattern | None = None) -> dict[str, Pattern | None]:
    return dict.fromkeys(names, value)


class _Reader:
    """Walks the words once; an option's value is attached (``-n5``, ``--lines=5``) or the
    next word."""

    def __init__(self, spec: Spec, words: Sequence[str]) -> None:
        self.spec = spec
        self.words = words
        self.i = 0
        self.parsed = Parsed()

    def option(self, name: str, attached: str | None) -> bool:
        """Record one option; True when it consumed the rest of its word as its value."""
        if name not in self.spec.flags:
            raise NotReadOnly(f"the option {name} is not on the read-only list")
        pattern = self.spec.flags[name]
        if pattern is None:
            if attached is not None and name.startswith("--"):
                raise NotReadOnly(f"the option {name} takes no value")
            self.parsed.flags.setdefault(name, []).append(None)
            return False
        value = attached
        if not value:
            if self.i >= len(self.words):
                raise NotReadOnly(f"the option {name} needs a value")
            value = self.words[self.i]
            self.i += 1
        if not pattern.fullmatch(value):
            raise NotReadOnly(
                f"the value {value!r} of {name} is not one the read-only list accepts"
            )
        self.parsed.flags.setdefault(name, []).append(value)
        return True


def parse(spec: Spec, words: Sequence[str]) -> Parsed:
    """Check ``words`` (without the command name) against ``spec``; raise NotReadOnly."""
    reader = _Reader(spec, words)
    parsed = reader.parsed
    only_args = False
    while reader.i < len(words):
        word = words[reader.i]
        reader.i += 1
        if only_args or word == "-" or not word.startswith("-"):
            if not only_args and spec.bsd and word.isalpha():
                unknown = "".join(sorted(set(word) - spec.bsd))
                if unknown:
                    raise NotReadOnly(
                        f"the option {unknown} of {spec.name} is not on the read-only list"
                    )
                parsed.flags.setdefault(word, []).append(None)
                continue
            parsed.args.append(word)
        elif word == "--":
            only_args = True
        elif spec.whole_words:
            if spec.flags.get(word, False) is not None:
                raise NotReadOnly(f"the option {word} is not on the read-only list")
            parsed.flags.setdefault(word, []).append(None)
        elif spec.digits and re.fullmatch(r"-\d{1,7}", word):
            parsed.flags.setdefault("-n", []).append(word[1:])
        elif word.startswith("--"):
            name, eq, value = word.partition("=")
            reader.option(name, value if eq else None)
        else:
            for j in range(1, len(word)):  # -tlnp, -n5: letters until one takes a value
                if reader.option("-" + word[j], word[j + 1 :] or None):
                    break
    args = parsed.args
    if spec.sub:
        if not args or args[0] not in spec.sub:
            raise NotReadOnly(f"only {spec.name} {'|'.join(spec.sub)} is read-only")
        args = args[1:]
    if args:
        if spec.args is None:
            raise NotReadOnly(f"{spec.name} takes no arguments here")
        if len(args) > spec.max_args:
            raise NotReadOnly(f"{spec.name} takes at most {spec.max_args} arguments here")
        bad = next((a for a in args if not spec.args.fullmatch(a)), None)
        if bad is not None:
            raise NotReadOnly(f"the argument {bad!r} is not one the read-only list accepts")
    missing = sorted(spec.required - parsed.flags.keys())
    if missing:
        raise NotReadOnly(f"{spec.name} is read-only only with {' '.join(missing)}")
    if spec.check is not None:
        problem = spec.check(parsed)
        if problem:
            raise NotReadOnly(problem)
    return parsed
