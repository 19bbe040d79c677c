"""Take a shell command apart (with bashlex) into the pieces the policy judges one by one.

bashlex gives the structure: lists (``;``, ``&&``, ``||``, newlines), pipelines, compound
commands, redirections. Each word's *text* is then read again by ``words.scan_word``, which
does the shell's quote removal and finds every expansion in it — including command
substitutions hidden inside ``${…}`` that bashlex does not look into. Every simple command
becomes a ``Part`` with its words; every command embedded in a word is analysed in turn and
its parts added. Whatever cannot be judged from its text (compound commands, function
definitions, computed command names, environment assignments, here-documents) becomes an
"opaque" part, which can never be allowed outright. A command bashlex cannot parse has no
parts, only an ``error``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Literal

import bashlex
import bashlex.errors

from assistant.security.words import TOO_DEEP, Word, scan_word

PartKind = Literal["command", "write", "read", "opaque"]

_MAX_DEPTH = 8
_WRITES = frozenset({">", ">>", ">|", "&>", ">&", "&>>", "<>"})
_READS = frozenset({"<", "<&", "<<<"})
_EXPANSIONS = frozenset({"parameter", "commandsubstitution", "processsubstitution", "tilde"})


@dataclass(frozen=True, slots=True)
class Part:
    kind: PartKind
    text: str  # the original text of the piece (a simple command, or "> target")
    words: tuple[str, ...] = ()  # commands: the words after quote removal; redirections: target
    note: str = ""  # opaque parts: why
    owner: str = ""  # redirections: the text of the command they belong to
    constructs: tuple[str, ...] = ()  # expansions in the words (empty: every word is literal)
    globs: tuple[bool, ...] = ()  # per word: literal but for unquoted glob characters
    redirects: tuple[str, ...] = ()  # commands: their redirections, as "OP TARGET"

    @property
    def literal(self) -> bool:
        return not self.constructs


@dataclass(frozen=True, slots=True)
class Analysis:
    parts: tuple[Part, ...] = ()
    pipelines: tuple[tuple[Part, ...], ...] = ()  # simple commands of each pipeline, in order
    substitutions: tuple[tuple[Part, tuple[Part, ...]], ...] = ()  # command → parts inside it
    error: str | None = None


@dataclass
class _Walker:
    source: str
    depth: int = 0
    parts: list[Part] = field(default_factory=list)
    pipelines: list[tuple[Part, ...]] = field(default_factory=list)
    substitutions: list[tuple[Part, tuple[Part, ...]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

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

    def word(self, node: Any) -> tuple[Word, list[Part]]:
        """Read a word node's text; analyse the commands embedded in it."""
        word = scan_word(self.text(node))
        literal_value = getattr(node, "word", None)
        expands = any(
            getattr(piece, "kind", "") in _EXPANSIONS for piece in getattr(node, "parts", ()) or ()
        )
        if word.literal and (
            expands or (literal_value is not None and literal_value != word.value)
        ):
            # two readings disagree: do not trust either with an "allow"
            word = Word(word.raw, word.value, ("a word the analysis reads two ways",))
        inner: list[Part] = []
        for command in word.commands:
            inner.extend(self.nested(command))
        return word, inner

    def nested(self, command: str) -> list[Part]:
        if self.depth >= _MAX_DEPTH:
            self.parts.append(Part("opaque", command, note=TOO_DEEP))
            return []
        analysis = analyze(command, depth=self.depth + 1)
        if analysis.error is not None:
            part = Part("opaque", command, note=f"an embedded command: {analysis.error}")
            self.parts.append(part)
            return [part]
        self.parts.extend(analysis.parts)
        self.pipelines.extend(analysis.pipelines)
        self.substitutions.extend(analysis.substitutions)
        return list(analysis.parts)

    def command(self, node: Any) -> Part:
        text = self.text(node)
        words: list[Word] = []
        inner: list[Part] = []
        targets: list[tuple[str, str, Word | None]] = []  # (fd + operator, shown, target)
        opaque: str | None = None
        for child in node.parts:
            if child.kind == "assignment":
                word, found = self.word(child)
                if words:
                    words.append(word)
                else:
                    opaque = "it sets environment variables for the command"
                inner.extend(found)
            elif child.kind == "word":
                word, found = self.word(child)
                if not words and not word.literal:
                    opaque = "the command name is computed when it runs"
                words.append(word)
                inner.extend(found)
            elif child.kind == "redirect":
                redirect, found = self.redirect(child, text)
                if redirect is not None:
                    targets.append(redirect)
                inner.extend(found)
        values = tuple(w.value for w in words)
        redirects = tuple(
            f"{op} {shlex.quote(word.value)}" if word is not None else op for op, _, word in targets
        )
        canonical = " ".join([shlex.join(values), *redirects])
        part = Part(
            "opaque" if opaque else "command",
            text,
            values,
            note=opaque or "",
            constructs=tuple(dict.fromkeys(c for w in words for c in w.constructs)),
            globs=tuple(w.only_globs for w in words),
            redirects=redirects,
        )
        self.parts.append(part)
        for op, shown, target in targets:
            if target is None:
                continue
            kind: PartKind = "write" if op.lstrip("0123456789") in _WRITES else "read"
            self.parts.append(
                Part(kind, shown, (target.value,), owner=canonical, constructs=target.constructs)
            )
        if inner:
            self.substitutions.append((part, tuple(inner)))
        return part

    def redirect(
        self, node: Any, owner: str
    ) -> tuple[tuple[str, str, Word | None] | None, list[Part]]:
        kind = node.type
        target = node.output
        fd = str(node.input) if isinstance(getattr(node, "input", None), int) else ""
        if kind in ("<<", "<<-"):
            self.parts.append(Part("opaque", self.text(node), note="a here-document", owner=owner))
            return None, []
        if isinstance(target, int | str) or target is None:
            op = f"{fd}{kind}{target if target is not None else ''}"
            return (op, op, None), []  # 2>&1 moves a descriptor and touches no file
        if kind not in _WRITES and kind not in _READS:
            self.parts.append(Part("opaque", self.text(node), note=f"the redirection {kind}"))
            return None, []
        word, inner = self.word(target)
        return (f"{fd}{kind}", f"{fd}{kind} {word.raw}", word), inner


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


def analyze(command: str, *, depth: int = 0) -> Analysis:
    try:
        trees = bashlex.parse(command)
    except (
        bashlex.errors.ParsingError,
        NotImplementedError,
        AttributeError,
        IndexError,
        TypeError,
        ValueError,
        KeyError,
        AssertionError,
        RecursionError,
    ) as exc:
        return Analysis(error=f"the shell syntax could not be checked ({type(exc).__name__})")
    walker = _Walker(command, depth)
    try:
        for tree in trees:
            walker.walk(tree)
    except (AttributeError, IndexError, TypeError, ValueError, KeyError, RecursionError) as exc:
        # a tree shape we do not know: nothing can be allowed from a partial reading
        return Analysis(error=f"the shell syntax could not be checked ({type(exc).__name__})")
    return Analysis(tuple(walker.parts), tuple(walker.pipelines), tuple(walker.substitutions))
