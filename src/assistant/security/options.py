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
    file_args: bool = False  # positional arguments are files: globs allowed under /var/log/
    summary: str = ""  # for the documentation


@dataclass(slots=True)
class Parsed:
    flags: dict[str, list[str | None]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    glob_args: set[int] = field(default_factory=set)  # positions in args with glob characters


class NotReadOnly(ValueError):
    """Why a command is not one of the read-only forms."""


def flags(*names: str, value: Pattern | None = None) -> dict[str, Pattern | None]:
    return dict.fromkeys(names, value)


class _Reader:
    """Walks the words once; an option's value is attached (``-n5``, ``--lines=5``) or the
    next word."""

    def __init__(self, spec: Spec, words: Sequence[str], globs: Sequence[bool]) -> None:
        self.spec = spec
        self.words = words
        self.globs = globs
        self.i = 0
        self.parsed = Parsed()

    def globbed(self, index: int) -> bool:
        return index < len(self.globs) and self.globs[index]

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
        source = self.i - 1  # the word the option is in
        if value is None or (value == "" and not name.startswith("--")):
            if self.i >= len(self.words):
                raise NotReadOnly(f"the option {name} needs a value")
            value, source = self.words[self.i], self.i
            self.i += 1
        if self.globbed(source):
            raise NotReadOnly(f"the value of {name} contains glob characters the shell expands")
        if not pattern.fullmatch(value):
            raise NotReadOnly(
                f"the value {value!r} of {name} is not one the read-only list accepts"
            )
        self.parsed.flags.setdefault(name, []).append(value)
        return True


def parse(spec: Spec, words: Sequence[str], globs: Sequence[bool] = ()) -> Parsed:
    """Check ``words`` (without the command name) against ``spec``; raise NotReadOnly.

    ``globs`` says which words hold unquoted glob characters: those are allowed only as
    file arguments of a spec with ``file_args``, under /var/log/, never as option values."""
    reader = _Reader(spec, words, globs)
    parsed = reader.parsed
    only_args = False
    while reader.i < len(words):
        word = words[reader.i]
        reader.i += 1
        if only_args or word == "-" or not word.startswith("-"):
            if reader.globbed(reader.i - 1):
                parsed.glob_args.add(len(parsed.args))
            elif not only_args and spec.bsd and word.isalpha():
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
    for value in [*parsed.args, *(v for vs in parsed.flags.values() for v in vs if v)]:
        if ".." in value.split("/"):
            raise NotReadOnly(f"{value!r} climbs out of its directory (..)")
    for index in sorted(parsed.glob_args):
        problem = glob_problem(parsed.args[index]) if spec.file_args else "not a file argument"
        if problem:
            raise NotReadOnly(f"the glob {parsed.args[index]!r} is refused: {problem}")
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


def glob_problem(path: str) -> str | None:
    """Why the shell's expansion of ``path`` could leave /var/log/, or None.

    Only ``*`` and ``?`` (no brackets), only after ``/var/log/``, and never in a part that
    starts with a dot (``.?`` matches ``..`` in some shells)."""
    if not path.startswith("/var/log/"):
        return "globs only under /var/log/"
    if "[" in path or "]" in path:
        return "no bracket expressions"
    for component in path.split("/"):
        if component.startswith(".") and any(c in component for c in "*?"):
            return "no glob in a name that starts with a dot"
    return None
