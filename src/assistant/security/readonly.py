"""The built-in read-only commands: each one pinned to the flags and arguments known to be safe.

A simple command is read-only when its name is on this list and every word after it is a
listed flag (with a value of the listed shape) or an argument of the listed shape. There is
no catch-all: a flag that is not listed (``ps e`` shows process environments, ``ss -K`` kills
connections, ``tail -f`` never ends, ``grep -r`` reads a whole tree, ``sort -o`` writes a
file) makes the command "not read-only", and the policy asks a person instead.

The words are the ones the shell passes after quote removal (see ``words``); a command with
any expansion never gets here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.security.options import NotReadOnly, Parsed, Pattern, Spec, parse
from assistant.security.options import flags as _flags

__all__ = ["LOG_FILE", "SPECS", "NotReadOnly", "Spec", "check", "command_name", "summaries"]


def _re(pattern: str) -> Pattern:
    return re.compile(pattern)


NUMBER = _re(r"\d{1,7}")
SMALL = _re(r"[1-9]|10")  # iteration counts of sampling commands
UNIT = _re(r"[A-Za-z0-9@_.:\\-]{1,256}")
USER = _re(r"[a-z_][a-z0-9_.-]{0,31}")
PID_LIST = _re(r"\d{1,7}(,\d{1,7})*")
# a plain path: no "..", no leading dash, no expansion characters (those never get here)
PATH = _re(r"(?!-)(?!.*(^|/)\.\.(/|$))[\w./@:+,=%-]{1,1024}")
# a file under /var/log (globs allowed after the prefix, never "..")
LOG_FILE = _re(r"/var/log/[\w./@:+,=%*?-]{1,1024}")
LOG_DIR = _re(r"/var/log/?")
TIME = _re(r"[\w :+.-]{1,64}")  # "1 hour ago", "2026-01-01 10:00", "-1h", "today"
PRIORITY = _re(r"[0-7]|emerg|alert|crit|err|warning|notice|info|debug([.][.]\w+)?|\w+\.\.\w+")
PS_FIELDS = _re(
    r"(pid|ppid|pgid|sid|tid|user|euser|ruser|uid|euid|gid|group|comm|args|cmd|command|ucmd|"
    r"%cpu|pcpu|%mem|pmem|rss|rsz|vsz|vsize|sz|etime|etimes|stat|state|start|start_time|"
    r"lstart|time|cputime|nlwp|ni|nice|pri|psr|tty|tt|wchan|cls|rtprio|policy|lwp|f|flags)"
    r"(=[\w%]*)?(,(pid|ppid|pgid|sid|tid|user|euser|ruser|uid|euid|gid|group|comm|args|cmd|"
    r"command|ucmd|%cpu|pcpu|%mem|pmem|rss|rsz|vsz|vsize|sz|etime|etimes|stat|state|start|"
    r"start_time|lstart|time|cputime|nlwp|ni|nice|pri|psr|tty|tt|wchan|cls|rtprio|policy|lwp|"
    r"f|flags)(=[\w%]*)?)*"
)
PS_SORT = _re(r"[+-]?[\w%]+(,[+-]?[\w%]+)*")
SS_FILTER = _re(r"[\w.:=!<>()*\[\] -]{1,64}")
DOCKER_FORMAT = _re(r"[^\x00-\x1f]{1,256}")
LS_PATH = _re(PATH.pattern + r"|/var/log/[\w./@:+,=%*?-]{0,1024}")  # ".." and globs: options
IOSTAT_ARG = _re(r"\d{1,7}|[a-z][\w-]{0,31}")
DATE_FORMAT = _re(r"\+[\w%:./ -]{1,64}")
_PROC = (
    "loadavg|meminfo|cpuinfo|uptime|version|mounts|stat|diskstats|swaps|vmstat|"
    "pressure/(cpu|memory|io)|net/dev|net/sockstat"
)
CAT_FILE = _re(LOG_FILE.pattern + rf"|/proc/({_PROC})")


def _sampling(parsed: Parsed) -> str | None:
    """DELAY COUNT together, at most 5 s and 10 samples (never endless)."""
    numbers = [a for a in parsed.args if a.isdigit()]
    if len(numbers) == 1:
        return "a sampling interval without a count runs until the time limit"
    if len(numbers) == 2 and (int(numbers[0]) > 5 or int(numbers[1]) > 10):
        return "at most 10 samples, at most 5 seconds apart"
    return None


def _grep(parsed: Parsed) -> str | None:
    """The first argument is the pattern (unless -e); files only under /var/log/."""
    files = parsed.args if "-e" in parsed.flags else parsed.args[1:]
    if "-e" not in parsed.flags and not parsed.args:
        return "grep needs a pattern"
    if "-e" not in parsed.flags and 0 in parsed.glob_args:
        return "grep's pattern contains glob characters the shell would expand"
    bad = next((f for f in files if not LOG_FILE.fullmatch(f)), None)
    if bad is not None:
        return f"grep reads only files under /var/log/ without approval (not {bad!r})"
    return None


def _top(parsed: Parsed) -> str | None:
    """-d at most 5 seconds."""
    delays = [v for v in parsed.flags.get("-d", []) if v is not None]
    if any(float(d) > 5 for d in delays):
        return "top -d at most 5 seconds"
    return None


def _ip(parsed: Parsed) -> str | None:
    """OBJECT [show] [dev NAME] only."""
    rest = parsed.args[1:]
    if rest and rest[0] in ("show", "list", "ls"):
        rest = rest[1:]
    if rest and not (len(rest) == 2 and rest[0] == "dev" and UNIT.fullmatch(rest[1])):
        return "ip OBJECT [show] [dev NAME] only"
    return None


_COUNT = _re(r"[+-]?\d{1,7}")
_FILE_FILTER: dict[str, Pattern | None] = {
    "-n": _COUNT,
    "--lines": _COUNT,
    "-c": _COUNT,
    "--bytes": _COUNT,
}
_FILE_FILTER |= _flags("-q", "-v", "--quiet", "--silent")

SPECS: tuple[Spec, ...] = (
    Spec("uptime", _flags("-p", "-s", "--pretty", "--since"), summary="uptime [-p|-s]"),
    Spec(
        "df",
        _flags("-h", "-H", "-k", "-m", "-T", "-i", "-l", "-P", "-a", "--total")
        | {"-t": UNIT, "-x": UNIT, "--type": UNIT, "--exclude-type": UNIT, "-B": UNIT},
        args=PATH,
        max_args=8,
        summary="df [-hHkmTilPa] [-t|-x TYPE] [PATH…]",
    ),
    Spec(
        "free",
        _flags("-b", "-k", "-m", "-g", "-h", "-t", "-w", "-l", "--si", "--total", "--wide"),
        summary="free [-bkmghtwl]",
    ),
    Spec("w", _flags("-h", "-s", "-i", "-f", "-u"), args=USER, max_args=1, summary="w [USER]"),
    Spec("who", _flags("-a", "-b", "-H", "-q", "-r", "-u", "-s"), summary="who [-abHqrus]"),
    Spec("uname", _flags(*(f"-{c}" for c in "asnrvmpio")), summary="uname [-asnrvmpio]"),
    Spec(
        "hostname",
        _flags("-f", "-s", "-d", "-i", "-I", "-A", "--fqdn", "--short", "--all-ip-addresses"),
        summary="hostname [-fsdiIA]",
    ),
    Spec("id", _flags("-u", "-g", "-G", "-n"), args=USER, max_args=1, summary="id [USER]"),
    Spec(
        "date",
        _flags("-u", "-R", "-I", "--utc", "--rfc-email", "--iso-8601"),
        args=DATE_FORMAT,
        max_args=1,
        summary="date [-uRI] [+FORMAT]",
    ),
    Spec("nproc", _flags("--all"), summary="nproc"),
    Spec("lscpu", _flags("-e", "-p", "-J"), summary="lscpu"),
    Spec(
        "lsblk",
        _flags("-a", "-f", "-l", "-m", "-p", "-t", "-J", "-b", "-d", "-n") | {"-o": PS_SORT},
        args=PATH,
        max_args=4,
        summary="lsblk [-aflmptJbdn] [-o COLUMNS] [DEVICE…]",
    ),
    Spec(
        "vmstat",
        _flags("-a", "-d", "-s", "-w", "-t") | {"-S": _re("[kKmM]")},
        args=NUMBER,
        max_args=2,
        check=_sampling,
        summary="vmstat [-adswt] [DELAY COUNT] (≤ 5 s, ≤ 10 samples)",
    ),
    Spec(
        "iostat",
        _flags("-x", "-d", "-c", "-k", "-m", "-h", "-t", "-z", "-y"),
        args=IOSTAT_ARG,
        max_args=4,
        check=_sampling,
        summary="iostat [-xdckmhtzy] [DEVICE…] [DELAY COUNT] (≤ 5 s, ≤ 10 samples)",
    ),
    Spec(
        "du",
        _flags("-s", "-h", "-c", "-x", "-a", "-k", "-m", "-b", "--apparent-size")
        | {"-d": NUMBER, "--max-depth": NUMBER},
        args=PATH,
        max_args=16,
        summary="du [-shcxakmb] [-d N] [PATH…]",
    ),
    Spec(
        "ls",
        _flags(*(f"-{c}" for c in "aAlhtrSdiFn1G"), "--full-time")
        | {"--sort": _re("size|time|name|extension")},
        args=LS_PATH,
        max_args=16,
        summary="ls [-aAlhtrSdiFn1G] [PATH…] (not -R)",
        file_args=True,
    ),
    Spec(
        "ps",
        _flags("-e", "-A", "-a", "-d", "-f", "-F", "-l", "-H", "-w", "-j", "-L", "-T", "-N")
        | {"-o": PS_FIELDS, "-p": PID_LIST, "-u": USER, "-U": USER, "-C": UNIT}
        | {"--sort": PS_SORT, "--pid": PID_LIST, "--ppid": PID_LIST, "--forest": None}
        | {"--no-headers": None, "-q": PID_LIST},
        bsd=frozenset("auxfwrhjlTcv"),
        summary="ps [aux|-ef|-e -o FIELDS|-p PID] [--sort KEY] (never e: environments)",
    ),
    Spec(
        "top",
        _flags("-b", "-c", "-i", "-S", "-H", "-1")
        | {"-n": SMALL, "-d": _re(r"\d(\.\d)?"), "-o": _re(r"[%\w]{1,16}"), "-p": PID_LIST}
        | {"-w": NUMBER, "-u": USER, "-E": _re("[kmgtpe]"), "-e": _re("[kmgtpe]")},
        required=frozenset({"-b", "-n"}),
        check=_top,
        summary="top -b -n N [-d S] [-o FIELD] (N ≤ 10, S ≤ 5)",
    ),
    Spec(
        "cat",
        _flags("-n", "-A", "-v", "-s"),
        args=CAT_FILE,
        max_args=16,
        summary="cat FILE… (files under /var/log/, and /proc/loadavg, meminfo, cpuinfo, …)",
        file_args=True,
    ),
    Spec(
        "zcat",
        {},
        args=LOG_FILE,
        max_args=16,
        summary="zcat FILE… (under /var/log/)",
        file_args=True,
    ),
    Spec(
        "head",
        _FILE_FILTER,
        args=LOG_FILE,
        max_args=16,
        digits=True,
        summary="head [-n N] [FILE… under /var/log/]",
        file_args=True,
    ),
    Spec(
        "tail",
        _FILE_FILTER,
        args=LOG_FILE,
        max_args=16,
        digits=True,
        summary="tail [-n N] [FILE… under /var/log/] (never -f)",
        file_args=True,
    ),
    Spec(
        "grep",
        _flags(*(f"-{c}" for c in "ivcnEFwxohHsqlLaIP"))
        | {"-m": NUMBER, "-A": NUMBER, "-B": NUMBER, "-C": NUMBER, "-e": DOCKER_FORMAT}
        | {"--max-count": NUMBER},
        args=_re(r"[^\x00]{0,1024}"),
        max_args=17,
        check=_grep,
        summary="grep [-ivcnEFwxohH] [-m|-A|-B|-C N] PATTERN [FILE… under /var/log/] (never -r)",
        file_args=True,
    ),
    Spec(
        "wc",
        _flags("-l", "-c", "-m", "-w", "-L"),
        args=LOG_FILE,
        max_args=16,
        summary="wc",
        file_args=True,
    ),
    Spec(
        "sort",
        _flags(*(f"-{c}" for c in "bdfghinMrRuVs"))
        | {"-k": _re(r"[0-9][0-9,.bdfghinMrRV]{0,15}"), "-t": _re(r"[^\x00]")},
        summary="sort [-bdfghinMrRuVs] [-k KEY] [-t SEP] (no files, never -o)",
    ),
    Spec("uniq", _flags("-c", "-d", "-u", "-i"), summary="uniq [-cdui] (no files)"),
    Spec(
        "cut",
        {"-d": _re(r"[^\x00]"), "-f": _re(r"[\d,-]{1,32}"), "-c": _re(r"[\d,-]{1,32}")}
        | {"-b": _re(r"[\d,-]{1,32}"), "-s": None},
        summary="cut -d X -f LIST (no files)",
    ),
    Spec(
        "systemctl",
        _flags("--no-pager", "-l", "--full", "--plain", "--no-legend", "-a", "--all", "-q")
        | {"-n": NUMBER, "--lines": NUMBER, "--type": UNIT, "-t": UNIT, "--state": UNIT},
        args=UNIT,
        max_args=8,
        sub=("status", "is-active", "is-enabled", "is-failed"),
        summary="systemctl status|is-active|is-enabled|is-failed UNIT… (not show, not cat)",
    ),
    Spec(
        "systemctl",
        _flags("--no-pager", "--failed", "--plain", "--no-legend", "-a", "--all", "-l", "--full")
        | {"--type": UNIT, "-t": UNIT, "--state": UNIT},
        args=_re(r"list-units|list-timers|list-unit-files|list-sockets"),
        max_args=1,
        summary="systemctl [--failed] [list-units|list-timers|list-unit-files]",
    ),
    Spec(
        "journalctl",
        _flags("--no-pager", "-b", "-x", "-e", "-r", "-k", "-q", "--no-hostname", "--utc")
        | {"-u": UNIT, "--unit": UNIT, "-n": NUMBER, "--lines": NUMBER, "-p": PRIORITY}
        | {"--priority": PRIORITY, "--since": TIME, "-S": TIME, "--until": TIME, "-U": TIME}
        | {"-t": UNIT, "--identifier": UNIT, "-g": DOCKER_FORMAT, "--grep": DOCKER_FORMAT}
        | {"-o": _re(r"short|short-iso|short-precise|short-monotonic|cat|with-unit")}
        | {"--output": _re(r"short|short-iso|short-precise|short-monotonic|cat|with-unit")},
        summary="journalctl [-u UNIT] [-n N] [--since T] [--until T] [-p P] [-b] --no-pager "
        "(never -f, no maintenance options)",
    ),
    Spec(
        "dmesg",
        _flags("-T", "-t", "-x", "-k", "-u", "--ctime", "--notime")
        | {"-l": _re(r"[a-z,]{1,64}"), "--level": _re(r"[a-z,]{1,64}")},
        summary="dmesg [-Ttxk] [-l LEVELS] (never -c, -C, -w, -n)",
    ),
    Spec(
        "ip",
        _flags("-4", "-6", "-s", "-d", "-br", "-brief", "-o", "-oneline", "-j", "-json"),
        whole_words=True,
        args=_re(r"a|addr|address|r|ro|route|l|link|n|neigh|show|list|ls|dev|[\w.@:-]{1,32}"),
        max_args=4,
        sub=("a", "addr", "address", "r", "ro", "route", "l", "link", "n", "neigh"),
        check=_ip,
        summary="ip [-4|-6|-br|-s] addr|route|link|neigh [show] [dev NAME]",
    ),
    Spec(
        "ss",
        _flags(*(f"-{c}" for c in "tulnpaxwsemoiHr46O0"), "--no-header"),
        args=SS_FILTER,
        max_args=8,
        summary="ss [-tulnpaxwsemoiHr46] [FILTER] (never -K, -E, -D, -F)",
    ),
    Spec(
        "netstat",
        _flags(*(f"-{c}" for c in "tulnpaxwsreiWgo46")),
        summary="netstat [-tulnpaxsreiW] (never -c)",
    ),
    Spec(
        "docker",
        _flags("-a", "-q", "--no-trunc", "-s", "--all", "--quiet", "--size", "-l", "--latest")
        | {"-n": NUMBER, "--last": NUMBER, "--format": DOCKER_FORMAT, "-f": DOCKER_FORMAT}
        | {"--filter": DOCKER_FORMAT},
        sub=("ps",),
        summary="docker ps [-aqsl] [-n N] [--format F] [--filter F]",
    ),
    Spec(
        "docker",
        _flags("-a", "-q", "--no-trunc", "--all", "--quiet", "--digests")
        | {"--format": DOCKER_FORMAT},
        sub=("images",),
        summary="docker images [-aq]",
    ),
    Spec(
        "docker",
        _flags("--no-stream", "-a", "--all", "--no-trunc") | {"--format": DOCKER_FORMAT},
        args=UNIT,
        max_args=9,
        sub=("stats",),
        required=frozenset({"--no-stream"}),
        summary="docker stats --no-stream [CONTAINER…]",
    ),
    Spec(
        "timedatectl",
        _flags("--no-pager"),
        args=_re("status|show-timesync|timesync-status"),
        max_args=1,
        summary="timedatectl [status]",
    ),
    Spec(
        "hostnamectl", _flags("--no-pager"), args=_re("status"), max_args=1, summary="hostnamectl"
    ),
)

_BY_NAME: dict[str, tuple[Spec, ...]] = {}
for _spec in SPECS:
    _BY_NAME[_spec.name] = (*_BY_NAME.get(_spec.name, ()), _spec)

# Where a read-only command may be found when its name is given as a path.
_SYSTEM_BIN = _re(r"(/usr)?/s?bin/")


def command_name(word: str) -> str | None:
    """The read-only list's name for ``word``: bare names and the system bin directories."""
    if "/" not in word:
        return word
    match = _SYSTEM_BIN.match(word)
    if match and "/" not in word[match.end() :]:
        return word[match.end() :]
    return None


def check(words: Sequence[str], globs: Sequence[bool] = ()) -> tuple[Spec | None, str]:
    """The spec that makes ``words`` read-only, or None and why not. ``globs`` marks the
    words with unquoted glob characters (see ``options.parse``)."""
    if globs and globs[0]:
        return None, "a glob in the command name"
    if not words:
        return None, "an empty command"
    name = command_name(words[0])
    specs = _BY_NAME.get(name or "", ())
    if not specs:
        return None, f"{words[0]} is not on the read-only list"
    problems: list[str] = []
    for spec in specs:
        try:
            parse(spec, words[1:], globs[1:])
        except NotReadOnly as exc:
            problems.append(str(exc))
            continue
        return spec, spec.summary
    return None, problems[0] if len(problems) == 1 else "; ".join(dict.fromkeys(problems))


def summaries() -> list[str]:
    """One line per read-only form, for ``assistant policy list``."""
    return [spec.summary for spec in SPECS]


_SHAPES: dict[Pattern, str] = {
    NUMBER: "N",
    SMALL: "N (1-10)",
    UNIT: "NAME",
    USER: "USER",
    PID_LIST: "PID[,PID…]",
    PATH: "PATH (no ..)",
    LOG_FILE: "FILE under /var/log/ (globs ok, no ..)",
    TIME: "TIME",
    PRIORITY: "PRIORITY",
    PS_FIELDS: "FIELDS (no environ)",
    PS_SORT: "KEYS",
    SS_FILTER: "FILTER",
    DOCKER_FORMAT: "TEXT",
    LS_PATH: "PATH (no ..), globs only under /var/log/",
    IOSTAT_ARG: "DEVICE, DELAY, COUNT",
    DATE_FORMAT: "+FORMAT",
    CAT_FILE: "FILE under /var/log/, or /proc/" + _PROC.replace("|", ", "),
}


def _shape(pattern: Pattern) -> str:
    return _SHAPES.get(pattern) or pattern.pattern


def reference() -> list[tuple[str, list[str], str]]:
    """Every read-only form as (command, options, arguments), from the specs themselves."""
    rows = []
    for spec in SPECS:
        command = spec.name + (f" {'|'.join(spec.sub)}" if spec.sub else "")
        options = [
            name if pattern is None else f"{name} {_shape(pattern)}"
            for name, pattern in sorted(spec.flags.items())
        ]
        if spec.bsd:
            options.append(f"{''.join(sorted(spec.bsd))} (BSD letters, ps aux)")
        if spec.digits:
            options.append("-N")
        arguments = "none"
        if spec.args is not None:
            arguments = f"up to {spec.max_args}: {_shape(spec.args)}"
        notes = []
        if spec.required:
            notes.append(f"only with {' '.join(sorted(spec.required))}")
        if spec.check is not None and spec.check.__doc__:
            notes.append(spec.check.__doc__.strip().splitlines()[0].rstrip("."))
        if notes:
            arguments += f" ({'; '.join(notes)})"
        rows.append((command, options, arguments))
    return rows


def markdown() -> str:
    """The table docs/security.md shows (a test keeps the two the same)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| Command | Options it may have | Arguments |", "|---|---|---|"]
    for command, options, arguments in reference():
        shown = " ".join(f"`{cell(o)}`" for o in options) or "none"
        lines.append(f"| `{cell(command)}` | {shown} | {cell(arguments)} |")
    return "\n".join(lines) + "\n"
