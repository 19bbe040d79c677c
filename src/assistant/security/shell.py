"""Take a shell command apart (with bashlex) into the pieces the policy judges one by one.

Every simple command — in a list (``;``, ``&&``, ``||``, newlines), a pipeline, a command or
process substitution, or inside a compound — becomes a ``Part``; so does every redirection
that writes or reads a file. Whatever cannot be judged from its text (compound commands,
function definitions, computed command names, environment assignments, here-documents)
becomes an "opaque" part, which can never be allowed outright. A command bashlex cannot
parse has no parts, only an ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import bashlex
import bashlex.errors

PartKind = Literal["command", "write", "read", "opaque"]


@dataclass(frozen=True, slots=True)
class Part:
    kind: PartKind
    text: str  # the original text of the piece (a simple command, or "> target")
    words: tuple[str, ...] = ()  # for commands: the words, quotes removed
    note: str = ""  # for opaque parts: why
    owner: str = ""  # for redirections: the text of the command they belong to


@dataclass(frozen=True, slots=True)
class Analysis:
    parts: tuple[Part, ...] = ()
    pipelines: tuple[tuple[Part, ...], ...] = ()  # simple commands of each pipeline, in order
    substitutions: tuple[tuple[Part, tuple[Part, ...]], ...] = ()  # command → parts inside it
    error: str | None = None


@dataclass
class _Walker:
    source: str
    parts: list[Part] = field(default_factory=list)
    pipelines: list[tuple[Part, ...]] = field(default_factory=list)
    substitutions: list[tuple[Part, tuple[Part, ...]]] = field(default_factory=list)

    def text(self, node: Any) -> str:
        start, end = node.pos
        return str(self.source[start:end])

    def walk(self, node: Any) -> list[Part]:
        """Collect the parts under ``node``; returns the simple commands found directly."""
        kind = node.kind
        if kind == "list":
            found: list[Part] = []
            for child in node.parts:
                if child.kind != "operator":
                    found.extend(self.walk(child))
            return found
        if kind == "pipeline":
            stages: list[Part] = []
            for child in node.parts:
                if child.kind != "pipe":
                    stages.extend(self.walk(child))
            self.pipelines.append(tuple(stages))
            return stages
        if kind == "command":
            return [self.command(node)]
        if kind in ("compound", "function", "if", "for", "while", "until"):
            self.parts.append(
                Part(
                    "opaque",
                    self.text(node) if hasattr(node, "pos") else "",
                    note=f"a {kind} command",
                )
            )
            for child in _children(node):
                self.walk(child)
            return []
        for child in _children(node):
            self.walk(child)
        return []

    def command(self, node: Any) -> Part:
        text = self.text(node)
        words: list[str] = []
        inner: list[Part] = []
        opaque: str | None = None
        for child in node.parts:
            if child.kind == "assignment":
                if not words:
                    opaque = "it sets environment variables for the command"
                inner.extend(self.substitutions_in(child))
            elif child.kind == "word":
                if not words and any(
                    p.kind in ("parameter", "commandsubstitution", "processsubstitution")
                    for p in child.parts
                ):
                    opaque = "the command name is computed when it runs"
                words.append(child.word)
                inner.extend(self.substitutions_in(child))
            elif child.kind == "redirect":
                self.redirect(child, text)
        part = (
            Part("opaque", text, tuple(words), note=opaque)
            if opaque
            else Part("command", text, tuple(words))
        )
        self.parts.append(part)
        if inner:
            self.substitutions.append((part, tuple(inner)))
        return part

    def substitutions_in(self, word: Any) -> list[Part]:
        """Walk the command and process substitutions inside a word; return their parts."""
        found: list[Part] = []
        for piece in getattr(word, "parts", []) or []:
            if piece.kind in ("commandsubstitution", "processsubstitution"):
                before = len(self.parts)
                self.walk(piece.command)
                found.extend(self.parts[before:])
        return found

    def redirect(self, node: Any, owner: str) -> None:
        kind = node.type
        target = node.output
        if kind in ("<<", "<<-"):
            self.parts.append(Part("opaque", self.text(node), note="a here-document", owner=owner))
            return
        if isinstance(target, int) or target is None:
            return  # 2>&1 and friends move descriptors, they touch no file
        path = target.word
        for piece in getattr(target, "parts", []) or []:
            if piece.kind in ("commandsubstitution", "processsubstitution"):
                self.walk(piece.command)
        if kind in (">", ">>", ">|", "&>", ">&", "&>>", "<>"):
            self.parts.append(Part("write", f"{kind} {path}", (path,), owner=owner))
        elif kind in ("<", "<&", "<<<"):
            self.parts.append(Part("read", f"{kind} {path}", (path,), owner=owner))


def _children(node: Any) -> list[Any]:
    out: list[Any] = []
    for name in ("parts", "list"):
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend(v for v in value if hasattr(v, "kind"))
    command = getattr(node, "command", None)
    if command is not None and hasattr(command, "kind"):
        out.append(command)
    return out


def analyze(command: str) -> Analysis:
    try:
        trees = bashlex.parse(command)
    except (
        bashlex.errors.ParsingError,
        NotImplementedError,
        AttributeError,
        IndexError,
        TypeError,
        ValueError,
        RecursionError,
    ) as exc:
        return Analysis(error=f"the shell syntax could not be checked ({type(exc).__name__})")
    walker = _Walker(command)
    for tree in trees:
        walker.walk(tree)
    return Analysis(tuple(walker.parts), tuple(walker.pipelines), tuple(walker.substitutions))
