"""One shell word, read the way the shell reads it: quote removal, and everything that would
make its value depend on something other than its text.

``scan_word`` performs POSIX/bash quote removal on the text of a single word (backslashes,
single quotes, double quotes) and records each *construct* the shell would expand when it
runs: parameter and arithmetic expansion, command and process substitution (also nested
inside ``${…}`` and double quotes, where a parser that stops at the parameter misses them),
ANSI-C and locale quoting, brace and tilde expansion, globs, and anything unterminated.
A word without constructs is *literal*: what the policy reads is exactly what the command
receives. The text of every embedded command is returned so it can be judged too.
"""

from __future__ import annotations

from dataclasses import dataclass

_MAX_DEPTH = 16
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_SPECIAL_PARAMETERS = frozenset("0123456789@*#?$!-")
_GLOB = frozenset("*?[")

PARAMETER = "a parameter expansion"
COMMAND_SUBSTITUTION = "a command substitution"
BACKTICKS = "a command substitution (backticks)"
PROCESS_SUBSTITUTION = "a process substitution"
ARITHMETIC = "an arithmetic expansion"
ANSI_C = "ANSI-C quoting ($'…')"
LOCALE = 'locale quoting ($"…")'
BRACE = "a brace expansion"
TILDE = "a tilde expansion"
GLOB = "a glob pattern"
GROUPING = "parentheses outside quotes"
UNTERMINATED = "an unterminated quote or expansion"
TOO_DEEP = "expansions nested too deeply"
CONTINUATION = "a line continuation (backslash-newline)"


@dataclass(frozen=True, slots=True)
class Word:
    raw: str  # as written
    value: str  # after quote removal (constructs kept as written)
    constructs: tuple[str, ...] = ()  # what the shell would expand; empty: literal
    commands: tuple[str, ...] = ()  # the text of commands embedded in it

    @property
    def literal(self) -> bool:
        return not self.constructs

    @property
    def only_globs(self) -> bool:
        """Literal but for glob characters outside quotes (``/var/log/*.log``)."""
        return bool(self.constructs) and set(self.constructs) == {GLOB}


def scan_word(raw: str, *, depth: int = 0) -> Word:
    joined = join_lines(raw)
    scanner = _Scanner(joined, depth)
    if joined != raw:
        scanner.constructs.append(CONTINUATION)
    scanner.run()
    return Word(
        raw,
        "".join(scanner.out),
        tuple(dict.fromkeys(scanner.constructs)),
        tuple(scanner.commands),
    )


def join_lines(text: str) -> str:
    """Remove backslash-newline pairs the way the shell does before it reads anything else
    (everywhere but inside single quotes): ``$\\⏎(id)`` is ``$(id)``."""
    if "\\\n" not in text:
        return text
    out: list[str] = []
    i = 0
    single = double = False
    while i < len(text):
        c = text[i]
        if c == "\\" and not single:
            if text.startswith("\\\n", i):
                i += 2
                continue
            out.append(text[i : i + 2])
            i += 2
            continue
        if c == "'" and not double:
            single = not single
        elif c == '"' and not single:
            double = not double
        out.append(c)
        i += 1
    return "".join(out)


def embedded_commands(text: str, *, depth: int = 0) -> tuple[str, ...]:
    """The commands inside ``$(…)``, backticks and ``<(…)`` anywhere in ``text``."""
    return scan_word(text, depth=depth).commands


class _Scanner:
    def __init__(self, raw: str, depth: int) -> None:
        self.raw = raw
        self.depth = depth
        self.out: list[str] = []
        self.constructs: list[str] = []
        self.commands: list[str] = []

    def run(self) -> None:
        raw = self.raw
        n = len(raw)
        i = 0
        quoted = False  # inside double quotes
        while i < n:
            c = raw[i]
            nxt = raw[i + 1] if i + 1 < n else ""
            if c == "\\":
                if not nxt:
                    self.out.append("\\")
                    i += 1
                elif quoted and nxt not in '$`"\\\n':
                    self.out.append("\\" + nxt)
                    i += 2
                else:
                    if nxt != "\n":  # backslash-newline joins lines
                        self.out.append(nxt)
                    i += 2
                continue
            if c == "'" and not quoted:
                close = raw.find("'", i + 1)
                if close < 0:
                    self.constructs.append(UNTERMINATED)
                    self.out.append(raw[i + 1 :])
                    return
                self.out.append(raw[i + 1 : close])
                i = close + 1
                continue
            if c == '"':
                quoted = not quoted
                i += 1
                continue
            if c == "`":
                i = self.backticks(i)
                continue
            if c == "$":
                i = self.dollar(i, quoted)
                continue
            if not quoted:
                if c in "<>" and nxt == "(":
                    end = _closing(raw, i + 1, "(", ")")
                    self.found(PROCESS_SUBSTITUTION, raw[i + 2 : end - 1 if end else n], end)
                    i = end or n
                    continue
                if c in "()":
                    self.constructs.append(GROUPING)
                elif c in _GLOB:
                    self.constructs.append(GLOB)
                elif c == "{":
                    self.constructs.append(BRACE)
                elif c == "~" and (i == 0 or raw[i - 1] in "=:"):
                    self.constructs.append(TILDE)
            self.out.append(c)
            i += 1
        if quoted:
            self.constructs.append(UNTERMINATED)

    def found(self, construct: str, command: str | None, end: int | None) -> None:
        self.constructs.append(construct)
        if end is None:
            self.constructs.append(UNTERMINATED)
        if command is not None:
            if self.depth >= _MAX_DEPTH:
                self.constructs.append(TOO_DEEP)
            else:
                self.commands.append(command)

    def backticks(self, i: int) -> int:
        raw = self.raw
        j = i + 1
        inner: list[str] = []
        while j < len(raw) and raw[j] != "`":
            if raw[j] == "\\" and j + 1 < len(raw) and raw[j + 1] in "$`\\":
                inner.append(raw[j + 1])
                j += 2
                continue
            inner.append(raw[j])
            j += 1
        end = j + 1 if j < len(raw) else None
        self.found(BACKTICKS, "".join(inner), end)
        self.out.append(raw[i : end or len(raw)])
        return end or len(raw)

    def dollar(self, i: int, quoted: bool) -> int:
        raw = self.raw
        n = len(raw)
        nxt = raw[i + 1] if i + 1 < n else ""
        if nxt == "(":
            if raw.startswith("((", i + 1):
                end = _closing(raw, i + 1, "(", ")")
                self.constructs.append(ARITHMETIC)
                self.inside(raw[i + 3 : (end or n)], end)
            else:
                end = _closing(raw, i + 1, "(", ")")
                self.found(COMMAND_SUBSTITUTION, raw[i + 2 : end - 1 if end else n], end)
        elif nxt == "{":
            end = _closing(raw, i + 1, "{", "}")
            self.constructs.append(PARAMETER)
            self.inside(raw[i + 2 : (end or n)], end)
        elif nxt == "[":
            end = _closing(raw, i + 1, "[", "]")
            self.constructs.append(ARITHMETIC)
            self.inside(raw[i + 2 : (end or n)], end)
        elif nxt == "'" and not quoted:
            end = _ansi_c_end(raw, i + 2)
            self.constructs.append(ANSI_C)
            if end is None:
                self.constructs.append(UNTERMINATED)
        elif nxt == '"' and not quoted:
            self.constructs.append(LOCALE)
            self.out.append("$")
            return i + 1  # the double quote that follows opens a quoted string
        elif nxt in _NAME_START:
            end = i + 1
            while end < n and (raw[end].isalnum() or raw[end] == "_"):
                end += 1
            self.constructs.append(PARAMETER)
        elif nxt and nxt in _SPECIAL_PARAMETERS:
            end = i + 2
            self.constructs.append(PARAMETER)
        else:
            self.out.append("$")  # a lone dollar sign is literal
            return i + 1
        end = end or n
        self.out.append(raw[i:end])
        return end

    def inside(self, text: str, end: int | None) -> None:
        """Expansions inside ``${…}``, ``$((…))``, ``$[…]``: substitutions there run too."""
        if end is None:
            self.constructs.append(UNTERMINATED)
        if self.depth >= _MAX_DEPTH:
            self.constructs.append(TOO_DEEP)
            return
        commands = embedded_commands(text, depth=self.depth + 1)
        if commands:
            self.constructs.append(COMMAND_SUBSTITUTION)
        self.commands.extend(commands)


def _closing(raw: str, start: int, opening: str, closing: str) -> int | None:
    """Index just past the bracket that closes the one at ``start`` (quote-aware), or None."""
    depth = 0
    i = start
    n = len(raw)
    quote = ""
    while i < n:
        c = raw[i]
        if c == "\\" and quote != "'":
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
            i += 1
            continue
        if c in "'\"":
            quote = c
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _ansi_c_end(raw: str, start: int) -> int | None:
    i = start
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == "'":
            return i + 1
        i += 1
    return None
