"""``/remind WHEN TEXT``: the common ways to say WHEN, in English and Chinese, parsed without
the model. ``now`` is aware and in the person's zone; every WHEN is read in that zone.

One-off:
  ``10m``, ``2h``, ``1h30m``, ``in 20 minutes``; ``10分钟后``, ``三十分钟后``, ``半小时后``,
  ``一个半小时后``, ``一刻钟后``, ``两个小时后``, ``三天后``, ``过十分钟`` — that long from now.
  ``9:00``, ``at 9pm``, ``9点``, ``十点半``, ``下午3点``, ``晚上8点`` — the next such time.
  ``today 18:30``, ``tomorrow 9:00``, ``tonight 8pm``, ``tomorrow morning 9``; ``今天``,
  ``明天``, ``后天``, ``大后天``, ``今晚``, ``明早``, ``明晚``, ``三天后`` + a time.
  ``friday 9am``, ``on friday 9am``, ``next monday 9:00`` (Monday of next week); ``周五 9点``,
  ``星期五上午9点``, ``礼拜五`` (the next Friday, today if the time is still ahead),
  ``这周日``/``本周日`` (this week's), ``下周一``/``下下周一`` (next week's, the week after).
  ``2026-12-01 08:00``, ``2026年12月1日 08:00``, ``12月1日 9点``, ``12月1号上午9点``, ``15号 9点``
  — without a year, the next time that date comes (this year, else next year); without a
  month, this month's or the next month's.
Recurring:
  ``every 2h``, ``every day 9:00``, ``daily 9:00``, ``weekdays 8:30``, ``every monday 9:00``,
  ``every month on the 1st 9:00``; ``每2小时``, ``每隔半小时``, ``每天早上9点``, ``每晚9点``,
  ``工作日 8:30``, ``每个工作日上午8:30``, ``每周一 10:00``, ``每周一、三、五 9点``,
  ``每周一到周五 9点``, ``每月1号 9点``, ``每月15日上午10点``.

A time of day is ``9``, ``9:30``, ``9pm``, or in Chinese ``9点``, ``九点``, ``两点``, ``十点半``,
``十二点一刻``, ``三点三刻``, ``九点零五分``, ``9点整``, ``21:30``, with digits or Chinese
numerals. A period moves it: 早上/上午/凌晨 keep it (凌晨12点 is 0:00); 中午 adds 12 to 1–10;
下午/傍晚 add 12 to 1–11; 晚上 adds 12 to 5–11, and 晚上12点 or 晚上1–4点 is that night, after
midnight (今晚12点 is 0:00 tomorrow). English morning/afternoon/evening/night work the same.
Weeks start on Monday.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta

from assistant.core.i18n import N_, tr
from assistant.scheduler.types import At, Cron, Every

WhenParser = Callable[[re.Match[str], datetime], At | Every | Cron]

USAGE = N_(
    "Usage: /remind WHEN TEXT — e.g. /remind 10m stretch, /remind tomorrow 9:00 call Anna, "
    "/remind 2026-12-01 08:00 renew the domain, /remind every day 9:00 stand-up, "
    "/remind weekdays 8:30 check backups."
)
NO_TEXT = N_("What should I remind you of? {usage}")
NOT_UNDERSTOOD = N_("I could not tell when from “{text}”. {usage}")
NOT_A_TIME = N_("{value} is not a time")
NOT_A_TIME_OF_DAY = N_("{value} is not a time of day")
NOT_A_DATE = N_("{value} is not a date")
PASSED_TODAY = N_("{time} today has already passed")
IN_THE_PAST = N_("{when} is in the past")
NO_DELAY = N_("The delay must be longer than zero.")
NO_INTERVAL = N_("The interval must be longer than zero.")
TOO_FAR = N_("That is too far ahead: at most {years} years.")
AFTER_THE_31ST = N_("The night after the 31st is not in every month: say 0:00 on the 1st.")

_MAX_YEARS = 10
_MAX_DAYS = 366 * _MAX_YEARS

_UNITS = {
    "d": 86400, "day": 86400, "days": 86400, "天": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "小时": 3600, "个小时": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60, "分钟": 60, "分": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "秒": 1,
}  # fmt: skip
_ZH_UNITS = {
    "周": 604800, "星期": 604800, "礼拜": 604800, "天": 86400, "日": 86400,
    "小时": 3600, "钟头": 3600, "刻钟": 900, "分钟": 60, "分": 60, "秒钟": 1, "秒": 1,
}  # fmt: skip
_ZH_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
    "八": 8, "九": 9,
}  # fmt: skip
_WEEKDAY_NUM = {
    "sunday": 0, "sun": 0, "monday": 1, "mon": 1, "tuesday": 2, "tue": 2, "tues": 2,
    "wednesday": 3, "wed": 3, "thursday": 4, "thu": 4, "thurs": 4, "friday": 5, "fri": 5,
    "saturday": 6, "sat": 6,
}  # fmt: skip
_ZH_WEEKDAY = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7}
_DAY_OFFSET = {
    "today": 0, "tonight": 0, "tomorrow": 1, "今天": 0, "今日": 0, "今晚": 0, "今夜": 0,
    "今早": 0, "明天": 1, "明日": 1, "明晚": 1, "明夜": 1, "明早": 1, "后天": 2, "大后天": 3,
}  # fmt: skip
_WEEKS_AHEAD = {"next": 1, "下": 1, "下个": 1, "下下": 2, "下下个": 2, "这": 0, "这个": 0, "本": 0}
_PERIOD_KIND = {
    "早上": "morning", "早晨": "morning", "清晨": "morning", "上午": "morning", "早": "morning",
    "morning": "morning", "凌晨": "early", "中午": "noon", "下午": "afternoon",
    "午后": "afternoon", "傍晚": "afternoon", "afternoon": "afternoon", "晚上": "evening",
    "晚间": "evening", "夜里": "evening", "夜间": "evening", "半夜": "evening",
    "深夜": "evening", "晚": "evening", "evening": "evening", "night": "evening",
}  # fmt: skip
# the period a day implies: 今晚 is 今天晚上, tonight is today evening
_IMPLIED = {"tonight": "evening", "今晚": "evening", "今夜": "evening", "明晚": "evening",
            "明夜": "evening", "今早": "morning", "明早": "morning"}  # fmt: skip

_EN_UNIT = r"(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])"
_EN_DURATION = rf"(?P<dur>(?:\d+(?:\.\d+)?\s*{_EN_UNIT}\s*(?:and\s+)?)+)"
_CLOCK = r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?"
_STRICT_CLOCK = r"(?P<h>\d{1,2})(?::(?P<m>\d{2})\s*(?P<ampm>am|pm)?|\s*(?P<ampm2>am|pm))"
_END = r"(?=\s|$)"
_EN_WD = "(?:" + "|".join(sorted(_WEEKDAY_NUM, key=len, reverse=True)) + r")\b"
_EN_WDS = rf"(?P<wds>{_EN_WD}(?:\s*(?:,|and|&|-)\s*{_EN_WD})*)"

_D = "[一二两三四五六七八九]"
_ZH_NUM = rf"(?:{_D}百(?:零{_D}|{_D}十{_D}?)?|{_D}?十{_D}?|[零〇]|{_D})"  # 0–999
_ZH_INT = rf"(?:\d{{1,4}}|{_ZH_NUM})"
_ZH_AMOUNT = rf"(?:\d+(?:\.\d+)?|{_ZH_NUM})"
_ZH_UNIT = "小时|钟头|刻钟|分钟|分|秒钟|秒|天|日|周|星期|礼拜"
# 两个半小时: amount, 个, 半, unit; 半小时 alone. Unnamed groups: it repeats inside a pattern.
_ZH_PART = (
    rf"(?:零?({_ZH_AMOUNT})\s*(?:个\s*)?(半)?\s*({_ZH_UNIT})|(半)\s*(?:个\s*)?(小时|钟头|分钟))"
)
_ZH_DURATION = rf"(?P<zdur>(?:{_ZH_PART}\s*)+)"
_PERIOD = (
    r"(?P<period>早上|早晨|清晨|上午|中午|下午|午后|傍晚|晚上|晚间|夜里|夜间|半夜|深夜|凌晨|早|晚)?"
)
_ZH_CLOCK = (
    rf"(?P<h>\d{{1,2}}|{_ZH_NUM})\s*(?:[:：](?P<m>\d{{2}})"
    rf"|[点點时時]钟?(?:(?P<half>半)|(?P<q>[一三13])刻|(?P<zm>\d{{1,2}}|零?{_ZH_NUM})分?|整)?)"
)
_ZH_WEEK = "(?:周|星期|礼拜)"
_ZH_WD = "[一二三四五六日天]"
_ZH_WDS = rf"(?P<wds>{_ZH_WD}(?:\s*(?:[、,，/和及与~～-]|到|至)\s*{_ZH_WEEK}?{_ZH_WD})*)"
_ZH_ANCHOR = (
    r"(?:(?P<day>大后天|今天|今日|明天|明日|后天|[今明][晚早夜])(?:(?<=[晚早夜])上)?"
    rf"|(?P<ndays>{_ZH_INT})\s*[天日]\s*(?:后|以后|之后)"
    rf"|(?P<rel>下下个?|下个?|这个?|本)?{_ZH_WEEK}(?P<wd>{_ZH_WD})"
    rf"|(?P<date>(?:(?:(?P<y>\d{{4}})\s*年\s*)?(?P<mo>{_ZH_INT})\s*月\s*)?(?P<d>{_ZH_INT})\s*[日号號]))"
)
_ZH_EVERY = (
    rf"(?:每\s*(?:个\s*)?(?:(?P<daily>[天日])|(?P<nightly>[晚早])|{_ZH_WEEK}{_ZH_WDS}"
    rf"|月\s*(?P<date>(?P<dom>{_ZH_INT})\s*[日号號]))|(?:每\s*(?:个\s*)?)?(?P<work>工作日))"
)


def _number(text: str) -> int:
    """``"12"``, ``"十二"``, ``"二十"``, ``"两"``, ``"一百零五"`` → int."""
    if text.isdecimal():
        return int(text)
    value = pending = 0
    for char in text:
        if char in "十百":
            value += (pending or 1) * (10 if char == "十" else 100)
            pending = 0
        else:
            pending = _ZH_DIGITS[char]
    return value + pending


def _seconds(text: str) -> float:
    total = 0.0
    pairs = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+|个小时|小时|分钟|分|秒|天)", text.lower())
    for amount, unit in pairs:
        total += float(amount) * _UNITS.get(unit, 0)
    return total


def _zh_seconds(text: str) -> float:
    total = 0.0
    for amount, half, unit, lone_half, half_unit in re.findall(_ZH_PART, text):
        if lone_half:
            total += _ZH_UNITS[half_unit] / 2
        else:
            count = float(amount) if amount[0].isdecimal() else _number(amount)
            total += (count + (0.5 if half else 0)) * _ZH_UNITS[unit]
    return total


def duration_seconds(text: str) -> float:
    """ "30m", "2h", "1d", "1h30m" → seconds; ValueError when nothing is understood."""
    seconds = _seconds(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 1d")
    return seconds


def _in_period(hour: int, kind: str, said: str) -> tuple[int, int]:
    """(hour of the day, days later) for ``hour`` said with a period of the day."""
    if kind == "evening":
        if hour == 12 or hour < 5:  # 晚上12点, 晚上1点: that night, after midnight
            return hour % 12, 1
        return (hour + 12 if hour < 12 else hour), 0
    if kind == "afternoon":
        return (hour + 12 if hour < 12 else hour), 0
    if kind == "noon":
        return (hour + 12 if hour < 11 else hour), 0
    if hour > 12:  # 早上 / 上午 / 凌晨 take a 12-hour clock
        raise ValueError(tr(NOT_A_TIME).format(value=said))
    return (0 if hour == 12 and kind == "early" else hour), 0


def _clock(match: re.Match[str]) -> tuple[time, int]:
    """The time of day ``match`` names, and how many days after its day it falls."""
    groups = match.groupdict()
    hour = _number(groups["h"])
    minute = _number(groups.get("m") or groups.get("zm") or "0")
    if groups.get("half"):
        minute = 30
    if groups.get("q"):
        minute = 15 * _number(groups["q"])
    ampm = (groups.get("ampm") or groups.get("ampm2") or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError(tr(NOT_A_TIME).format(value=f"{hour}{ampm}"))
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    later = 0
    period = groups.get("period") or groups.get("day") or groups.get("nightly") or ""
    kind = _PERIOD_KIND.get(period.lower()) or _IMPLIED.get(period.lower())
    if kind:
        hour, later = _in_period(hour, kind, match.group(0).strip())
    if hour == 24 and minute == 0:  # 24:00, 24点: midnight at the end of the day
        hour, later = 0, later + 1
    if hour > 23 or minute > 59:
        raise ValueError(tr(NOT_A_TIME_OF_DAY).format(value=f"{hour}:{minute:02d}"))
    return time(hour, minute), later


def _local(day: date, at: time, now: datetime) -> datetime | None:
    """``day`` at ``at`` in now's zone, if that is after ``now`` in real time.

    In an hour that repeats (clocks go back) the first ``at`` still ahead; in an hour that is
    skipped (clocks go forward) the moment the skipped hour ends, as the scheduler does.
    """
    if day < now.date() - timedelta(days=1):
        return None  # (and never near datetime's limits)
    for fold in (0, 1):
        when = datetime.combine(day, at, tzinfo=now.tzinfo).replace(fold=fold).astimezone(UTC)
        if when > now.astimezone(UTC):
            return when.astimezone(now.tzinfo)
    return None


def _limited(seconds: float) -> float:
    if seconds > _MAX_DAYS * 86400:
        raise ValueError(tr(TOO_FAR).format(years=_MAX_YEARS))
    return seconds


def _span(match: re.Match[str]) -> float:
    zh = match.groupdict().get("zdur")
    return _limited(_zh_seconds(zh) if zh else _seconds(match.group("dur")))


def _after(match: re.Match[str], now: datetime) -> At:
    seconds = _span(match)
    if seconds <= 0:
        raise ValueError(tr(NO_DELAY))
    # in UTC: "in 2 hours" is two real hours, also across a DST change
    return At(time=(now.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(now.tzinfo))


def _every(match: re.Match[str], now: datetime) -> Every:
    seconds = _span(match)
    if seconds <= 0:
        raise ValueError(tr(NO_INTERVAL))
    return Every(seconds=seconds)


def _iso_weekday(name: str) -> int:
    """Monday 1 … Sunday 7."""
    return _ZH_WEEKDAY.get(name) or _WEEKDAY_NUM[name.lower()] or 7


def _weekday_set(text: str) -> set[int]:
    """``"一、三、五"``, ``"一到五"``, ``"monday and friday"``, ``"mon-fri"`` → cron weekdays."""
    found: set[int] = set()
    previous, ranging = 0, False
    for token in re.findall(rf"{_EN_WD}|{_ZH_WD}|到|至|[-~～]", text.lower()):
        if token in ("到", "至", "-", "~", "～"):
            ranging = previous > 0
            continue
        number = _iso_weekday(token)
        while ranging and previous != number:  # 周五到周日 wraps past the end of the week
            previous = previous % 7 + 1
            found.add(previous)
        found.add(number)
        previous, ranging = number, False
    return {n % 7 for n in found}


def _date(groups: dict[str, str | None], today: date) -> date:
    """The date a ``12月1日``/``2026年12月1日``/``15号``/``2026-12-01`` names."""
    day = _number(groups["d"] or "")
    year, month = groups.get("y"), groups.get("mo")
    tries: list[tuple[int, int]]
    if month is None:  # 15号: this month's, or the next month that has one
        tries = [(today.year + (today.month + k - 1) // 12, (today.month + k - 1) % 12 + 1)
                 for k in range(13)]  # fmt: skip
    elif year is None:  # 12月1日: this year's, or next year's once it has passed
        tries = [(today.year + k, _number(month)) for k in range(9)]
    else:
        tries = [(int(year), _number(month))]
    for y, m in tries:
        with suppress(ValueError):
            found = date(y, m, day)
            if year is not None or found >= today:
                return found
    raise ValueError(tr(NOT_A_DATE).format(value=groups.get("date")))


def _days(groups: dict[str, str | None], today: date) -> list[date]:
    """The days a one-off may fall on, earliest first; the first still ahead is taken."""
    if groups.get("day"):
        return [today + timedelta(days=_DAY_OFFSET[(groups["day"] or "").lower()])]
    if groups.get("ndays"):
        return [today + timedelta(days=_number(groups["ndays"] or ""))]
    if groups.get("wd"):
        weekday = _iso_weekday(groups["wd"] or "")
        weeks = _WEEKS_AHEAD.get((groups.get("rel") or "").lower())
        if weeks is None:  # 周五, on friday: the next Friday, today if still ahead
            first = today + timedelta(days=(weekday - today.isoweekday()) % 7)
            return [first, first + timedelta(days=7)]
        monday = today - timedelta(days=today.weekday())
        return [monday + timedelta(days=7 * weeks + weekday - 1)]
    if groups.get("d"):
        return [_date(groups, today)]
    return [today, today + timedelta(days=1)]  # a time alone: the next such time


def _once(match: re.Match[str], now: datetime) -> At:
    groups = match.groupdict()
    at, later = _clock(match)
    anchored = any(groups.get(k) for k in ("day", "ndays", "wd", "d"))
    days = _days(groups, now.date())
    for day in days:
        if (day - now.date()).days > _MAX_DAYS:
            raise ValueError(tr(TOO_FAR).format(years=_MAX_YEARS))
        when = _local(day + timedelta(days=later if anchored else 0), at, now)
        if when is not None:
            return At(time=when)
    if _DAY_OFFSET.get((groups.get("day") or "").lower()) == 0 and not later:
        raise ValueError(tr(PASSED_TODAY).format(time=f"{at:%H:%M}"))
    raise ValueError(tr(IN_THE_PAST).format(when=f"{days[-1]:%Y-%m-%d} {at:%H:%M}"))


def _repeat(match: re.Match[str], now: datetime) -> Cron:
    groups = match.groupdict()
    at, later = _clock(match)
    day, weekdays = "*", "*"
    if groups.get("dom"):
        dom = _number(groups["dom"])
        if not 1 <= dom <= 31:
            raise ValueError(tr(NOT_A_DATE).format(value=groups.get("date")))
        if dom + later > 31:
            raise ValueError(tr(AFTER_THE_31ST))
        day = str(dom + later)
    elif groups.get("wds") or groups.get("work"):
        numbers = _weekday_set(groups["wds"]) if groups.get("wds") else {1, 2, 3, 4, 5}
        numbers = {(n + later) % 7 for n in numbers}
        weekdays = "1-5" if numbers == {1, 2, 3, 4, 5} else ",".join(map(str, sorted(numbers)))
    return Cron(expr=f"{at.minute} {at.hour} {day} * {weekdays}")


def _en(pattern: str) -> re.Pattern[str]:
    # ASCII: under re.I alone "ſun" and "frıday" would match and name no weekday
    return re.compile(pattern, re.I | re.A)


_PATTERNS: list[tuple[re.Pattern[str], WhenParser]] = [
    (_en(rf"every\s+{_EN_DURATION}"), _every),
    (
        _en(
            r"(?:every\s+month|monthly)\s+(?:on\s+)?(?:the\s+)?"
            rf"(?P<date>(?P<dom>\d{{1,2}})(?:st|nd|rd|th)?)\s+(?:at\s+)?{_CLOCK}{_END}"
        ),
        _repeat,
    ),
    (_en(rf"(?:every\s+day|daily)\s+(?:at\s+)?{_CLOCK}{_END}"), _repeat),
    (_en(rf"(?:every\s+)?(?P<work>weekdays?|workdays?)\s+(?:at\s+)?{_CLOCK}{_END}"), _repeat),
    (_en(rf"every\s+{_EN_WDS}\s+(?:at\s+)?{_CLOCK}{_END}"), _repeat),
    (re.compile(rf"{_ZH_EVERY}\s*{_PERIOD}\s*{_ZH_CLOCK}"), _repeat),
    (re.compile(rf"每\s*(?:隔\s*)?{_ZH_DURATION}"), _every),
    (_en(rf"(?:in\s+)?{_EN_DURATION}"), _after),
    (
        _en(
            rf"(?:(?P<day>today|tomorrow|tonight)|(?:(?P<rel>next|this)\s+|on\s+)?(?P<wd>{_EN_WD}))"
            rf"\s+(?:(?P<period>morning|afternoon|evening|night)\s+)?(?:at\s+)?{_CLOCK}{_END}"
        ),
        _once,
    ),
    (
        _en(
            r"(?P<date>(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2}))"
            rf"(?:\s+|T)(?:at\s+)?{_CLOCK}{_END}"
        ),
        _once,
    ),
    (_en(rf"at\s+{_CLOCK}{_END}"), _once),
    (_en(rf"{_STRICT_CLOCK}{_END}"), _once),
    (re.compile(rf"(?:{_ZH_ANCHOR}\s*)?{_PERIOD}\s*{_ZH_CLOCK}"), _once),
    (re.compile(rf"(?:再?过\s*)?{_ZH_DURATION}(?:后|以后|之后)?"), _after),
]


def parse_when(text: str, now: datetime) -> tuple[At | Every | Cron, str]:
    """Split ``text`` into (schedule, what to remind of). ``now`` is aware, in the user's zone.

    Raises ``ValueError`` with a message for the user (in the current locale) when WHEN is not
    understood.
    """
    text = text.strip()
    for pattern, build in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        schedule = build(match, now)
        rest = text[match.end() :].strip()
        rest = re.sub(r"^(?:to\s+|that\s+|[,，:：、]\s*)", "", rest, flags=re.I).strip()
        if not rest:
            raise ValueError(tr(NO_TEXT).format(usage=tr(USAGE)))
        return schedule, rest
    raise ValueError(tr(NOT_UNDERSTOOD).format(text=text[:40], usage=tr(USAGE)))
