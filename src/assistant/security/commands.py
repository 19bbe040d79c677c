"""The command policy: allow, ask or deny, decided from the role, the host and the exact
command text — never from anything a model says about it.

A command is taken apart (``shell.analyze``); every piece is judged; the whole is allowed
only if every piece is, denied if any piece is, and otherwise needs an approval. What cannot
be parsed, or uses characters outside printable ASCII, can at best be asked about.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from assistant.config.ssh import CommandRule, SSHHost, SSHSection
from assistant.core.i18n import N_, tr
from assistant.core.roles import Permission
from assistant.security import readonly
from assistant.security.shell import Analysis, Part, analyze
from assistant.security.words import GLOB


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    rule: str = ""  # what decided: a read-only form, a config rule, the deny list, …


_BUILTIN_DENY = "the built-in deny list"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_ANALYSIS = "the shell analysis"
_LIMITS = "the input limits"


MAX_LENGTH = 4000
_DISK = r"/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|mapper|md|dm-|loop|sr)"
_SYSTEM_DIRS = r"(bin|boot|dev|etc|home|lib|lib32|lib64|opt|proc|root|run|sbin|srv|sys|usr|var)"
_CREDENTIALS = r"/etc/(shadow|gshadow|passwd|group|sudoers)(\.d/\S*)?"

# Checked against every simple command, with wrappers (sudo, nohup, …) taken off.
BUILTIN_DENY: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (
            rf"rm\s+(\S+\s+)*(-\w*[rR]\w*|--recursive)\s+(\S+\s+)*(/|/\*|~/?|\$HOME/?|/{_SYSTEM_DIRS}/?\*?)(\s|$)",
            N_("recursively deletes / or a system directory"),
        ),
        (r"rm\s.*--no-preserve-root", N_("deletes the root file system")),
        (
            r"(mkfs(\.\w+)?|mke2fs|mkswap|wipefs|sfdisk|fdisk|cfdisk|parted|gdisk|sgdisk|blkdiscard)(\s|$)",
            N_("formats or repartitions a disk"),
        ),
        (rf"(dd|shred)\s.*{_DISK}", N_("writes raw data to a disk device")),
        (rf"dd\s.*of={_CREDENTIALS}", N_("overwrites a system credentials file")),
        (
            r"chmod\s+(\S+\s+)*(-\w*R\w*|--recursive)(\s+\S+)*\s+(0?777|[augo]*\+rwx)(\s+\S+)*\s+/(\s|$|\*)",
            N_("makes the whole file system world-writable"),
        ),
        (
            r"chmod\s+(\S+\s+)*(0?777|[augo]*\+rwx)\s+(\S+\s+)*(-\w*R\w*|--recursive)(\s+\S+)*\s+/(\s|$|\*)",
            N_("makes the whole file system world-writable"),
        ),
        (
            r"chown\s+(\S+\s+)*(-\w*R\w*|--recursive)\s+(\S+\s+)*/(\s|$|\*)",
            N_("changes the owner of the whole file system"),
        ),
        (
            rf"(tee|cp|mv|install|ln|truncate|sed\s+-i)\s.*{_CREDENTIALS}(\s|$)",
            N_("overwrites a system credentials file"),
        ),
        (r"(kill|pkill)\s+(-\S+\s+)*(-1|1)$", N_("kills every process (or init)")),
        (r"find\s+/\s.*(-delete|-exec\s+rm)", N_("deletes files across the whole file system")),
        (r"(echo|printf)\s.*>\s*/proc/sysrq-trigger", N_("triggers a kernel sysrq action")),
    )
)
_FORK_BOMB = re.compile(r"(\w+|:)\s*\(\)\s*\{[^}]*\1\s*\|\s*\1\s*&")
_FD_DUP = re.compile(r"\s+\d*[<>]&\d+(?=\s|$)")
_WRAPPERS = {
    "sudo",
    "nohup",
    "nice",
    "ionice",
    "chrt",
    "timeout",
    "env",
    "command",
    "exec",
    "time",
    "stdbuf",
    "doas",
    "setsid",
    "unbuffer",
    "taskset",
}
_CODE_RUNNERS = {"eval", "source", ".", "xargs", "parallel", "watch", "su", "runuser", "script"}
_INTERPRETERS = {
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "csh",
    "tcsh",
    "ash",
    "busybox",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "php",
    "node",
    "lua",
    "tclsh",
}
_DOWNLOADERS = {"curl", "wget", "fetch", "aria2c", "nc", "ncat", "socat", "scp", "rsync", "ftp"}


def _name(word: str) -> str:
    base = word.rsplit("/", 1)[-1]
    return re.sub(r"[\d.]+$", "", base) if base.startswith("python") else base


def unwrap(words: Sequence[str]) -> tuple[str, ...]:
    """The command a wrapper (sudo, nohup, timeout 5, env X=1, …) would run."""
    rest = list(words)
    while rest and _name(rest[0]) in _WRAPPERS:
        wrapper = _name(rest.pop(0))
        while rest and (rest[0].startswith("-") or "=" in rest[0]):
            flag = rest.pop(0)
            takes_value = (
                wrapper == "sudo" and flag in ("-u", "-g", "-C", "-D", "-h", "-p", "-U")
            ) or (wrapper in ("nice", "ionice", "chrt") and flag in ("-n", "-c", "-p"))
            if takes_value and rest:
                rest.pop(0)
        if (
            wrapper in ("timeout", "chrt", "taskset")
            and rest
            and re.fullmatch(r"[\d.]+[smhd]?|0x[0-9a-f]+", rest[0])
        ):
            rest.pop(0)
    return tuple(rest)


def _runs_code(words: Sequence[str]) -> bool:
    if not words:
        return False
    name = _name(words[0])
    if name in _CODE_RUNNERS:
        return True
    if name in _INTERPRETERS:
        return len(words) == 1 or any(
            w in ("-c", "-e", "-E", "-r", "--command", "--eval") for w in words[1:]
        )
    return False


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_IFS = re.compile(r"\$\{?IFS\}?")
_QUOTES = re.compile(r"""['"\\]""")


def _deny_views(part: Part) -> list[str]:
    """The texts the deny lists look at: as written, after quote removal, with wrappers
    taken off, and — for words that hide things in expansions — with ``${IFS}`` read as the
    space it usually is and quotes dropped. Deny is best effort on top of "ask": a command
    the analysis cannot fully see is never allowed anyway."""
    views = [_normal(part.text), _FD_DUP.sub("", _normal(part.text))]
    if part.words:
        views.append(_normal(" ".join(part.words)))
        views.append(_normal(" ".join(unwrap(part.words))))
    if part.constructs or part.kind == "opaque":
        views.append(_normal(_QUOTES.sub("", _IFS.sub(" ", part.text))))
    return list(dict.fromkeys(v for v in views if v))


def canonical(part: Part, *, redirects: bool = False) -> str:
    """A literal simple command written one way: words shell-quoted only where needed."""
    text = shlex.join(part.words)
    if redirects and part.redirects:
        text = " ".join([text, *part.redirects])
    return text


@dataclass(frozen=True, slots=True)
class _Rules:
    allow: tuple[tuple[re.Pattern[str], str], ...]
    deny: tuple[tuple[re.Pattern[str], str], ...]
    exact: tuple[tuple[str, str], ...]


class Judge(Protocol):
    """What decides commands: ``CommandPolicy`` here, or ``IsolatedPolicy`` (the same
    decisions, made in a child process with a time limit)."""

    def configure(self, config: SSHSection) -> None: ...

    def requires_totp(self, host: SSHHost) -> bool: ...

    def decide(
        self, *, permissions: frozenset[Permission], host: SSHHost, command: str
    ) -> Decision: ...


class CommandPolicy:
    def __init__(self, config: SSHSection) -> None:
        self.configure(config)

    def configure(self, config: SSHSection) -> None:
        self._config = config
        self._readonly = tuple((re.compile(p), f"[ssh] readonly {p!r}") for p in config.readonly)

    def _rules(self, host: SSHHost) -> _Rules:
        allow: list[tuple[re.Pattern[str], str]] = []
        deny: list[tuple[re.Pattern[str], str]] = []
        exact: list[tuple[str, str]] = []
        for number, rule in enumerate(self._config.rules, 1):
            if _applies(rule, host):
                allow.extend(
                    (re.compile(p), f"[[ssh.rules]] #{number} allow {p!r}") for p in rule.allow
                )
                deny.extend(
                    (re.compile(p), f"[[ssh.rules]] #{number} deny {p!r}") for p in rule.deny
                )
                exact.extend(
                    (_normal(c), f"[[ssh.rules]] #{number} allow_exact {c!r}")
                    for c in rule.allow_exact
                )
        return _Rules(tuple(allow), tuple(deny), tuple(exact))

    def requires_totp(self, host: SSHHost) -> bool:
        """Approving a command on this host needs a current TOTP code (host or rule says so)."""
        return host.require_totp or any(
            rule.require_totp and _applies(rule, host) for rule in self._config.rules
        )

    def decide(
        self, *, permissions: frozenset[Permission], host: SSHHost, command: str
    ) -> Decision:
        exec_any = Permission.EXEC in permissions
        if not exec_any and Permission.EXEC_READONLY not in permissions:
            return Decision(Verdict.DENY, tr("your role may not run commands on servers"), "role")
        decision = self._judge(host, command)
        if decision.verdict is Verdict.ASK and not exec_any:
            return Decision(
                Verdict.DENY,
                tr("{reason}; your role may only run commands that are allowed outright").format(
                    reason=decision.reason
                ),
                decision.rule,
            )
        return decision

    def _judge(self, host: SSHHost, command: str) -> Decision:
        # Judge exactly what will run: only blanks and newlines may be trimmed (str.strip would
        # also drop \r, \x0b, \x85, U+2028 … that the remote shell still receives).
        if _CONTROL.search(command):
            return Decision(Verdict.DENY, tr("the command contains control characters"), _LIMITS)
        text = command.strip(" \t\n")
        if not text:
            return Decision(Verdict.DENY, tr("the command is empty"), _LIMITS)
        if len(text) > MAX_LENGTH:
            return Decision(
                Verdict.DENY,
                tr("the command is longer than {limit} characters").format(limit=MAX_LENGTH),
                _LIMITS,
            )
        if _FORK_BOMB.search(text):
            return Decision(Verdict.DENY, tr("the command is a fork bomb"), _BUILTIN_DENY)
        rules = self._rules(host)
        analysis = analyze(text)
        if analysis.error is not None:
            flat = _normal(_QUOTES.sub("", _IFS.sub(" ", text)))
            for candidate in dict.fromkeys((_normal(text), flat)):
                for pattern, reason in BUILTIN_DENY:
                    if pattern.search(candidate):
                        return Decision(Verdict.DENY, tr(reason), _BUILTIN_DENY)
            return Decision(Verdict.ASK, analysis.error, _ANALYSIS)
        verdicts = [self._part(part, rules) for part in analysis.parts]
        verdicts.extend(_piped_downloads(analysis))
        denied = next((d for d in verdicts if d.verdict is Verdict.DENY), None)
        if denied is not None:
            return denied
        exact = next((rule for written, rule in rules.exact if written == _normal(text)), None)
        if exact is not None:
            return Decision(Verdict.ALLOW, tr("allowed exactly as written by a rule"), exact)
        asked = [d for d in verdicts if d.verdict is Verdict.ASK]
        if "\\\n" in text or text.endswith("\\"):
            # shells join lines before they read anything; bashlex drops a lone trailing one
            asked.append(
                Decision(Verdict.ASK, tr("it continues lines with a backslash"), _ANALYSIS)
            )
        if not text.isascii():
            asked.append(
                Decision(
                    Verdict.ASK,
                    tr("it contains characters outside plain ASCII (lookalikes?)"),
                    _ANALYSIS,
                )
            )
        if asked:
            return Decision(
                Verdict.ASK,
                "; ".join(dict.fromkeys(d.reason for d in asked)),
                "; ".join(dict.fromkeys(d.rule for d in asked)),
            )
        rules_used = "; ".join(dict.fromkeys(d.rule for d in verdicts)) or _ANALYSIS
        return Decision(Verdict.ALLOW, tr("every part is allowed"), rules_used)

    def _part(self, part: Part, rules: _Rules) -> Decision:
        if part.kind in ("write", "read"):
            return self._redirection(part, rules)
        views = _deny_views(part)
        for candidate in views:
            for pattern, reason in BUILTIN_DENY:
                if pattern.search(candidate):
                    return Decision(Verdict.DENY, tr(reason), _BUILTIN_DENY)
        for pattern, rule in rules.deny:
            if any(pattern.fullmatch(v) for v in views):
                return Decision(Verdict.DENY, tr("a rule in the config denies it"), rule)
        if part.kind == "opaque":
            return Decision(
                Verdict.ASK,
                tr("`{command}` cannot be checked piece by piece ({note})").format(
                    command=_short(_normal(part.text)), note=part.note
                ),
                _ANALYSIS,
            )
        if not part.literal:
            exact = next((rule for text, rule in rules.exact if text == _normal(part.text)), None)
            if exact is not None:
                return Decision(Verdict.ALLOW, tr("allowed exactly as written by a rule"), exact)
            if set(part.constructs) == {GLOB}:
                spec, why = readonly.check(part.words, part.globs)
                if spec is not None:
                    return Decision(Verdict.ALLOW, tr("a read-only command"), f"read-only: {why}")
            constructs = ", ".join(part.constructs)
            return Decision(
                Verdict.ASK,
                tr("`{command}` contains {constructs}, which the policy cannot see through").format(
                    command=_short(_normal(part.text)), constructs=constructs
                ),
                _ANALYSIS,
            )
        plain = canonical(part)
        full = canonical(part, redirects=True)
        for pattern, rule in rules.allow:
            if pattern.fullmatch(plain) or pattern.fullmatch(full):
                return Decision(Verdict.ALLOW, tr("allowed by a rule"), rule)
        exact = next((rule for text, rule in rules.exact if text in (plain, full)), None)
        if exact is not None:
            return Decision(Verdict.ALLOW, tr("allowed exactly as written by a rule"), exact)
        if _runs_code(unwrap(part.words)):
            return Decision(
                Verdict.ASK,
                tr("{name} runs code given to it").format(name=part.words[0]),
                _ANALYSIS,
            )
        if self._config.builtin_readonly:
            spec, why = readonly.check(part.words, part.globs)
            if spec is not None:
                return Decision(Verdict.ALLOW, tr("a read-only command"), f"read-only: {why}")
        else:
            why = "the built-in read-only list is off ([ssh] builtin_readonly = false)"
        for pattern, rule in self._readonly:
            if pattern.fullmatch(plain):
                return Decision(Verdict.ALLOW, tr("a read-only command"), rule)
        return Decision(
            Verdict.ASK,
            tr("`{command}` is not on an allowlist ({why})").format(command=_short(plain), why=why),
            "no rule allows it",
        )

    def _redirection(self, part: Part, rules: _Rules) -> Decision:
        target = part.words[0] if part.words else ""
        writes = part.kind == "write"
        if writes and re.match(_DISK, target):
            return Decision(
                Verdict.DENY,
                tr("it writes to the disk device {target}").format(target=target),
                _BUILTIN_DENY,
            )
        if writes and re.fullmatch(_CREDENTIALS, target):
            return Decision(
                Verdict.DENY, tr("it overwrites {target}").format(target=target), _BUILTIN_DENY
            )
        if part.constructs:
            return Decision(
                Verdict.ASK,
                tr("the file of `{command}` is computed when it runs").format(
                    command=_short(part.text)
                ),
                _ANALYSIS,
            )
        if writes and target == "/dev/null":
            return Decision(Verdict.ALLOW, tr("output is discarded"), "read-only: > /dev/null")
        if not writes and readonly.LOG_FILE.fullmatch(target):
            return Decision(Verdict.ALLOW, tr("it reads a log file"), "read-only: < /var/log/…")
        for pattern, rule in rules.allow:
            if pattern.fullmatch(part.owner):
                return Decision(Verdict.ALLOW, tr("allowed by a rule"), rule)
        if any(text == part.owner for text, _ in rules.exact):
            return Decision(
                Verdict.ALLOW, tr("allowed exactly as written by a rule"), "allow_exact"
            )
        reason = (
            tr("it writes to the file {target}") if writes else tr("it reads the file {target}")
        )
        return Decision(Verdict.ASK, reason.format(target=target), "no rule allows it")


def _piped_downloads(analysis: Analysis) -> Iterable[Decision]:
    """``curl … | sh``, ``bash <(curl …)``, ``sh -c "$(wget …)"``: deny."""
    for stages in analysis.pipelines:
        downloading = False
        for stage in stages:
            words = unwrap(stage.words)
            name = _name(words[0]) if words else ""
            if name in _DOWNLOADERS:
                downloading = True
            elif downloading and name in _INTERPRETERS:
                yield Decision(
                    Verdict.DENY,
                    tr("it pipes a download into a shell or interpreter"),
                    _BUILTIN_DENY,
                )
    for command, inner in analysis.substitutions:
        words = unwrap(command.words)
        runner = bool(words) and _name(words[0]) in _INTERPRETERS | _CODE_RUNNERS
        if runner and any(_downloads(p) for p in inner):
            yield Decision(Verdict.DENY, tr("it runs downloaded code"), _BUILTIN_DENY)


def _downloads(part: Part) -> bool:
    words = unwrap(part.words)
    return bool(words) and _name(words[0]) in _DOWNLOADERS


def _applies(rule: CommandRule, host: SSHHost) -> bool:
    if not rule.hosts and not rule.tags:
        return True
    return host.name in rule.hosts or bool(set(rule.tags) & set(host.tags))


def _matches(patterns: Iterable[re.Pattern[str]], text: str) -> bool:
    return any(p.fullmatch(text) for p in patterns)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "…"
