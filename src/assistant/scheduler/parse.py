"""``/remind WHEN TEXT``: the common ways to say WHEN, parsed without the model.

One-off: ``10m``, ``2h``, ``1h30m``, ``in 20 minutes``, ``tomorrow 9:00``, ``today 18:30``,
``9:00`` or ``at 9pm`` (the next such time), ``2026-12-01 08:00``; ``10分钟后``,
``明天 9:00``, ``明天9点``.
Recurring: ``every 2h``, ``every day 9:00``, ``daily 9:00``, ``weekdays 8:30``,
``every monday 9:00``; ``每天 9:00``, ``工作日 8:30``, ``每2小时``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from assistant.scheduler.types import At, Cron, Every

WhenParser = Callable[[re.Match[str], datetime], At | Every | Cron]

USAGE = (
    "Usage: /remind WHEN TEXT — e.g. /remind 10m stretch, /remind tomorrow 9:00 call Anna, "
    "/remind 2026-12-01 08:00 renew the domain, /remind every day 9:00 stand-up, "
    "/remind weekdays 8:30 check backups."
)

_UNITS = {
    "d": 86400, "day": 86400, "days": 86400, "天": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "小时": 3600, "个小时": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60, "分钟": 60, "分": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "秒": 1,
}  # fmt: skip
_EN_UNIT = r"(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])"
_ZH_UNIT = r"(?:天|个小时|小时|分钟|分|秒)"
_EN_DURATION = rf"(?P<dur>(?:\d+(?:\.\d+)?\s*{_EN_UNIT}\s*(?:and\s+)?)+)"
_ZH_DURATION = rf"(?P<dur>(?:\d+\s*{_ZH_UNIT}\s*)+)"
_CLOCK = r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?"
_STRICT_CLOCK = r"(?P<h>\d{1,2})(?::(?P<m>\d{2})\s*(?P<ampm>am|pm)?|\s*(?P<ampm2>am|pm))"
_ZH_CLOCK = r"(?P<h>\d{1,2})(?:[:：](?P<m>\d{2})|点(?:(?P<half>半)|(?P<zm>\d{1,2})分?)?)"
_WEEKDAY_NUM = {
    "sunday": 0, "sun": 0, "monday": 1, "mon": 1, "tuesday": 2, "tue": 2, "tues": 2,
    "wednesday": 3, "wed": 3, "thursday": 4, "thu": 4, "thurs": 4, "friday": 5, "fri": 5,
    "saturday": 6, "sat": 6,
}  # fmt: skip
_ZH_WEEKDAY = {"日": 0, "天": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_END = r"(?=\s|$)"


def _seconds(text: str) -> float:
    total = 0.0
    pairs = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+|个小时|小时|分钟|分|秒|天)", text.lower())
    for amount, unit in pairs:
        total += float(amount) * _UNITS[unit]
    return total


def duration_seconds(text: str) -> float:
    """ "30m", "2h", "1d", "1h30m" → seconds; ValueError when nothing is understood."""
    seconds = _seconds(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 1d")
    return seconds


def _clock(match: re.Match[str]) -> time:
    groups = match.groupdict()
    hour = int(groups["h"])
    minute = int(groups.get("m") or groups.get("zm") or 0)
    if groups.get("half"):
        minute = 30
    ampm = (groups.get("ampm") or groups.get("ampm2") or "").lower()
    if groups.get("period") in ("下午", "晚上") and hour < 12:
        hour += 12
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError(f"{hour}{ampm} is not a time")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour}:{minute:02d} is not a time of day")
    return time(hour, minute)


def _on(day: date, at: time, now: datetime) -> datetime:
    return datetime.combine(day, at, tzinfo=now.tzinfo)


def _next(at: time, now: datetime) -> datetime:
    candidate = _on(now.date(), at, now)
    return candidate if candidate > now else _on(now.date() + timedelta(days=1), at, now)


def _after(match: re.Match[str], now: datetime) -> At:
    seconds = _seconds(match.group("dur"))
    if seconds <= 0:
        raise ValueError("the delay must be longer than zero")
    # in UTC: "in 2 hours" is two real hours, also across a DST change
    return At(time=(now.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(now.tzinfo))


def _day_offset(word: str) -> int:
    return {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2}[word]


def _relative_day(match: re.Match[str], now: datetime) -> At:
    offset = _day_offset(match.group("day").lower())
    when = _on(now.date() + timedelta(days=offset), _clock(match), now)
    if when <= now:
        raise ValueError(f"{when:%H:%M} today has already passed")
    return At(time=when)


def _next_clock(match: re.Match[str], now: datetime) -> At:
    return At(time=_next(_clock(match), now))


def _date_time(match: re.Match[str], now: datetime) -> At:
    day = date(int(match.group("y")), int(match.group("mo")), int(match.group("d")))
    when = _on(day, _clock(match), now)
    if when <= now:
        raise ValueError(f"{when:%Y-%m-%d %H:%M} is in the past")
    return At(time=when)


def _every(match: re.Match[str], now: datetime) -> Every:
    seconds = _seconds(match.group("dur"))
    if seconds <= 0:
        raise ValueError("the interval must be longer than zero")
    return Every(seconds=seconds)


def _cron(weekdays: str) -> Callable[[re.Match[str], datetime], Cron]:
    def build(match: re.Match[str], now: datetime) -> Cron:
        at = _clock(match)
        return Cron(expr=f"{at.minute} {at.hour} * * {weekdays}")

    return build


def _on_weekday(match: re.Match[str], now: datetime) -> Cron:
    name = match.group("wd")
    number = _ZH_WEEKDAY[name] if name in _ZH_WEEKDAY else _WEEKDAY_NUM[name]
    return _cron(str(number))(match, now)


_WEEKDAY_WORDS = "|".join(sorted(_WEEKDAY_NUM, key=len, reverse=True))
_PATTERNS: list[tuple[re.Pattern[str], WhenParser]] = [
    (re.compile(rf"every\s+{_EN_DURATION}", re.I), _every),
    (re.compile(rf"(?:every\s+day|daily)\s+(?:at\s+)?{_CLOCK}{_END}", re.I), _cron("*")),
    (
        re.compile(rf"(?:every\s+)?(?:weekdays?|workdays?)\s+(?:at\s+)?{_CLOCK}{_END}", re.I),
        _cron("1-5"),
    ),
    (
        re.compile(rf"every\s+(?P<wd>{_WEEKDAY_WORDS})\s+(?:at\s+)?{_CLOCK}{_END}", re.I),
        _on_weekday,
    ),
    (re.compile(rf"每天\s*{_ZH_CLOCK}"), _cron("*")),
    (re.compile(rf"(?:每个)?工作日\s*{_ZH_CLOCK}"), _cron("1-5")),
    (re.compile(rf"每(?:周|星期)(?P<wd>[一二三四五六日天])\s*{_ZH_CLOCK}"), _on_weekday),
    (re.compile(rf"每(?:隔)?\s*{_ZH_DURATION}"), _every),
    (re.compile(rf"(?:in\s+)?{_EN_DURATION}", re.I), _after),
    (re.compile(rf"{_ZH_DURATION}(?:后|以后|之后)"), _after),
    (re.compile(rf"(?P<day>today|tomorrow)\s+(?:at\s+)?{_CLOCK}{_END}", re.I), _relative_day),
    (
        re.compile(rf"(?P<day>今天|明天|后天)\s*(?P<period>早上|上午|下午|晚上)?\s*{_ZH_CLOCK}"),
        _relative_day,
    ),
    (
        re.compile(
            rf"(?P<y>\d{{4}})-(?P<mo>\d{{1,2}})-(?P<d>\d{{1,2}})(?:\s+|T)(?:at\s+)?{_CLOCK}{_END}",
            re.I,
        ),
        _date_time,
    ),
    (re.compile(rf"at\s+{_CLOCK}{_END}", re.I), _next_clock),
    (re.compile(rf"{_STRICT_CLOCK}{_END}", re.I), _next_clock),
    (re.compile(_ZH_CLOCK), _next_clock),
]


def parse_when(text: str, now: datetime) -> tuple[At | Every | Cron, str]:
    """Split ``text`` into (schedule, what to remind of). ``now`` is aware, in the user's zone.

    Raises ``ValueError`` with a message for the user when WHEN is not understood.
    """
    text = text.strip()
    for pattern, build in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        schedule = build(match, now)
        rest = text[match.end() :].strip()
        rest = re.sub(r"^(?:to\s+|that\s+|[,，:：]\s*)", "", rest, flags=re.I).strip()
        if not rest:
            raise ValueError(f"What should I remind you of? {USAGE}")
        return schedule, rest
    raise ValueError(f"I could not tell when from {text[:40]!r}. {USAGE}")
