"""/remind WHEN as Chinese speakers write it (and the English extras): Chinese numerals, periods
of the day, weekdays, dates, months. Tables of the known forms, and properties over every time
of day written every way, with ``now`` anywhere in time and in zones with and without DST."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core import i18n
from assistant.scheduler.parse import parse_when
from assistant.scheduler.types import At, Cron, Every

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Saturday 2026-03-28 10:15 in Berlin; clocks go forward the next night (02:00 → 03:00).
SAT = datetime(2026, 3, 28, 10, 15, tzinfo=BERLIN)
# Wednesday 2026-11-18 20:30 in Shanghai (no DST).
WED = datetime(2026, 11, 18, 20, 30, tzinfo=SHANGHAI)
ZONES = [
    ZoneInfo(name)
    for name in (
        "Europe/Berlin",
        "America/New_York",
        "Asia/Shanghai",
        "Australia/Lord_Howe",  # a 30-minute DST shift
        "America/Santiago",  # DST changes at midnight: some days have no 00:00
        "Pacific/Chatham",
    )
] + [UTC]
NOWS = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2034, 12, 31),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,
)
PROPERTY = settings(max_examples=300, deadline=None)


def on(now: datetime, *args: int) -> At:
    return At(time=datetime(*args, tzinfo=now.tzinfo))


def real(later: datetime, earlier: datetime) -> timedelta:
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def exists(day: date, at: time, zone) -> bool:
    """Whether ``at`` is a wall-clock time on ``day`` in ``zone`` (not skipped by DST)."""
    wall = datetime.combine(day, at, tzinfo=zone)
    return wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None)


def ahead(day: date, at: time, now: datetime) -> bool:
    """Whether ``at`` on ``day`` (either of them, in an hour that repeats) is after ``now``."""
    wall = datetime.combine(day, at, tzinfo=now.tzinfo)
    return any(wall.replace(fold=f).astimezone(UTC) > now.astimezone(UTC) for f in (0, 1))


def local(schedule: At, now: datetime) -> datetime:
    return schedule.time.astimezone(UTC).astimezone(now.tzinfo)


# --- tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "schedule", "rest"),
    [
        # Chinese numerals, bare times: the next such time
        ("九点 开会", on(SAT, 2026, 3, 29, 9, 0), "开会"),
        ("十点半 开会", on(SAT, 2026, 3, 28, 10, 30), "开会"),
        ("十二点一刻 吃饭", on(SAT, 2026, 3, 28, 12, 15), "吃饭"),
        ("十二点三刻 吃饭", on(SAT, 2026, 3, 28, 12, 45), "吃饭"),
        ("十一点二十分 喝茶", on(SAT, 2026, 3, 28, 11, 20), "喝茶"),
        ("十一点零五分 喝茶", on(SAT, 2026, 3, 28, 11, 5), "喝茶"),
        ("11点05 喝茶", on(SAT, 2026, 3, 28, 11, 5), "喝茶"),
        ("十一点整 喝茶", on(SAT, 2026, 3, 28, 11, 0), "喝茶"),
        ("十一点钟 喝茶", on(SAT, 2026, 3, 28, 11, 0), "喝茶"),
        ("两点 午睡", on(SAT, 2026, 3, 29, 3, 0), "午睡"),  # 02:00 is skipped that night
        ("二十一点 看新闻", on(SAT, 2026, 3, 28, 21, 0), "看新闻"),
        ("21：30 看新闻", on(SAT, 2026, 3, 28, 21, 30), "看新闻"),
        # periods
        ("下午3点 开会", on(SAT, 2026, 3, 28, 15, 0), "开会"),
        ("下午三点半 开会", on(SAT, 2026, 3, 28, 15, 30), "开会"),
        ("下午15点 开会", on(SAT, 2026, 3, 28, 15, 0), "开会"),
        ("晚上8点 看电视", on(SAT, 2026, 3, 28, 20, 0), "看电视"),
        ("晚上八点 看电视", on(SAT, 2026, 3, 28, 20, 0), "看电视"),
        ("中午12点 吃饭", on(SAT, 2026, 3, 28, 12, 0), "吃饭"),
        ("中午1点 吃饭", on(SAT, 2026, 3, 28, 13, 0), "吃饭"),
        ("傍晚6点 散步", on(SAT, 2026, 3, 28, 18, 0), "散步"),
        ("早上8点 跑步", on(SAT, 2026, 3, 29, 8, 0), "跑步"),
        ("上午11点 开会", on(SAT, 2026, 3, 28, 11, 0), "开会"),
        ("凌晨1点 收衣服", on(SAT, 2026, 3, 29, 1, 0), "收衣服"),
        ("凌晨12点 收衣服", on(SAT, 2026, 3, 29, 0, 0), "收衣服"),
        ("晚上12点 睡觉", on(SAT, 2026, 3, 29, 0, 0), "睡觉"),
        ("晚9点 睡觉", on(SAT, 2026, 3, 28, 21, 0), "睡觉"),
        # days
        ("明天早上9点 开会", on(SAT, 2026, 3, 29, 9, 0), "开会"),
        ("明天 早上 9点 开会", on(SAT, 2026, 3, 29, 9, 0), "开会"),
        ("明天上午九点半 开会", on(SAT, 2026, 3, 29, 9, 30), "开会"),
        ("明天晚上12点 睡觉", on(SAT, 2026, 3, 30, 0, 0), "睡觉"),
        ("今晚8点 看球", on(SAT, 2026, 3, 28, 20, 0), "看球"),
        ("今晚上8点 看球", on(SAT, 2026, 3, 28, 20, 0), "看球"),
        ("今晚12点 睡觉", on(SAT, 2026, 3, 29, 0, 0), "睡觉"),
        ("今天下午3点 开会", on(SAT, 2026, 3, 28, 15, 0), "开会"),
        ("明早8点 跑步", on(SAT, 2026, 3, 29, 8, 0), "跑步"),
        ("明晚9点 看书", on(SAT, 2026, 3, 29, 21, 0), "看书"),
        ("后天10点 取快递", on(SAT, 2026, 3, 30, 10, 0), "取快递"),
        ("大后天10点 取快递", on(SAT, 2026, 3, 31, 10, 0), "取快递"),
        ("三天后上午9点 复查", on(SAT, 2026, 3, 31, 9, 0), "复查"),
        ("3天后 9:00 复查", on(SAT, 2026, 3, 31, 9, 0), "复查"),
        # weekdays (SAT is a Saturday)
        ("周五 9点 周会", on(SAT, 2026, 4, 3, 9, 0), "周会"),
        ("星期五上午9点 周会", on(SAT, 2026, 4, 3, 9, 0), "周会"),
        ("礼拜五 9点 周会", on(SAT, 2026, 4, 3, 9, 0), "周会"),
        ("周六 11点 买菜", on(SAT, 2026, 3, 28, 11, 0), "买菜"),  # today, still ahead
        ("周六 9点 买菜", on(SAT, 2026, 4, 4, 9, 0), "买菜"),  # today's has passed
        ("星期天下午2点 看电影", on(SAT, 2026, 3, 29, 14, 0), "看电影"),
        ("下周一 10:00 开会", on(SAT, 2026, 3, 30, 10, 0), "开会"),
        ("下个星期一上午10点 开会", on(SAT, 2026, 3, 30, 10, 0), "开会"),
        ("下周日 10点 爬山", on(SAT, 2026, 4, 5, 10, 0), "爬山"),
        ("下下周一 9点 体检", on(SAT, 2026, 4, 6, 9, 0), "体检"),
        ("这周日 9点 教堂", on(SAT, 2026, 3, 29, 9, 0), "教堂"),
        ("本周日晚上8点 复盘", on(SAT, 2026, 3, 29, 20, 0), "复盘"),
        ("周五晚上12点 关机", on(SAT, 2026, 4, 4, 0, 0), "关机"),
        # dates
        ("12月1日 9点 续费", on(SAT, 2026, 12, 1, 9, 0), "续费"),
        ("12月1号上午9点 续费", on(SAT, 2026, 12, 1, 9, 0), "续费"),
        ("十二月一日 九点 续费", on(SAT, 2026, 12, 1, 9, 0), "续费"),
        ("2026年12月1日 08:00 续费", on(SAT, 2026, 12, 1, 8, 0), "续费"),
        ("2027年1月1日 0点 新年", on(SAT, 2027, 1, 1, 0, 0), "新年"),
        ("3月1日 9点 交税", on(SAT, 2027, 3, 1, 9, 0), "交税"),  # passed this year: next year's
        ("3月28日 11点 今天", on(SAT, 2026, 3, 28, 11, 0), "今天"),
        ("2月29日 9点 闰日", on(SAT, 2028, 2, 29, 9, 0), "闰日"),
        ("15号 9点 还款", on(SAT, 2026, 4, 15, 9, 0), "还款"),  # this month's has passed
        ("30号 9点 还款", on(SAT, 2026, 3, 30, 9, 0), "还款"),
        # durations with Chinese numerals
        ("三十分钟后 喝水", on(SAT, 2026, 3, 28, 10, 45), "喝水"),
        ("两个小时后 看烤箱", on(SAT, 2026, 3, 28, 12, 15), "看烤箱"),
        ("两小时后 看烤箱", on(SAT, 2026, 3, 28, 12, 15), "看烤箱"),
        ("半小时后 出门", on(SAT, 2026, 3, 28, 10, 45), "出门"),
        ("半个小时后 出门", on(SAT, 2026, 3, 28, 10, 45), "出门"),
        ("一个半小时后 出门", on(SAT, 2026, 3, 28, 11, 45), "出门"),
        ("两个半小时以后 出门", on(SAT, 2026, 3, 28, 12, 45), "出门"),
        ("一刻钟后 关火", on(SAT, 2026, 3, 28, 10, 30), "关火"),
        ("一小时零五分钟后 关火", on(SAT, 2026, 3, 28, 11, 20), "关火"),
        ("1.5小时后 关火", on(SAT, 2026, 3, 28, 11, 45), "关火"),
        ("九十分钟之后 关火", on(SAT, 2026, 3, 28, 11, 45), "关火"),
        ("过十分钟 关火", on(SAT, 2026, 3, 28, 10, 25), "关火"),
        ("再过5分钟 关火", on(SAT, 2026, 3, 28, 10, 20), "关火"),
        ("10分钟 关火", on(SAT, 2026, 3, 28, 10, 25), "关火"),
        ("三十秒后 关火", At(time=SAT + timedelta(seconds=30)), "关火"),
        # durations are real time: a day across the change to summer time ends at 11:15
        ("一天后 复查", on(SAT, 2026, 3, 29, 11, 15), "复查"),
        ("两周后 复查", on(SAT, 2026, 4, 11, 11, 15), "复查"),
        # recurring
        ("每天早上9点 站会", Cron(expr="0 9 * * *"), "站会"),
        ("每天晚上十点 吃药", Cron(expr="0 22 * * *"), "吃药"),
        ("每日 9:00 站会", Cron(expr="0 9 * * *"), "站会"),
        ("每晚9点 吃药", Cron(expr="0 21 * * *"), "吃药"),
        ("每早7点半 跑步", Cron(expr="30 7 * * *"), "跑步"),
        ("每天晚上12点 备份", Cron(expr="0 0 * * *"), "备份"),
        ("每个工作日上午8:30 检查", Cron(expr="30 8 * * 1-5"), "检查"),
        ("工作日下午6点 下班", Cron(expr="0 18 * * 1-5"), "下班"),
        ("每周一早上10点 周会", Cron(expr="0 10 * * 1"), "周会"),
        ("每周五下午5点半 周报", Cron(expr="30 17 * * 5"), "周报"),
        ("每星期天 8点 礼拜", Cron(expr="0 8 * * 0"), "礼拜"),
        ("每个礼拜六上午10点 打扫", Cron(expr="0 10 * * 6"), "打扫"),
        ("每周一、三、五 9点 健身", Cron(expr="0 9 * * 1,3,5"), "健身"),
        ("每周二和周四 19:00 羽毛球", Cron(expr="0 19 * * 2,4"), "羽毛球"),
        ("每周一到周五 9点 打卡", Cron(expr="0 9 * * 1-5"), "打卡"),
        ("每周一至五 9点 打卡", Cron(expr="0 9 * * 1-5"), "打卡"),
        ("每周五到周日 10点 休息", Cron(expr="0 10 * * 0,5,6"), "休息"),
        ("每周五晚上12点 关机", Cron(expr="0 0 * * 6"), "关机"),
        ("每周六晚上12点 关机", Cron(expr="0 0 * * 0"), "关机"),
        ("每月1号 9点 还款", Cron(expr="0 9 1 * *"), "还款"),
        ("每月15日上午10点 发工资", Cron(expr="0 10 15 * *"), "发工资"),
        ("每个月二十号 9点 交房租", Cron(expr="0 9 20 * *"), "交房租"),
        ("每月1号晚上12点 对账", Cron(expr="0 0 2 * *"), "对账"),
        ("每两小时 喝水", Every(seconds=7200), "喝水"),
        ("每隔半小时 起身", Every(seconds=1800), "起身"),
        ("每隔十五分钟 看一眼", Every(seconds=900), "看一眼"),
        ("每两周 复盘", Every(seconds=14 * 86400), "复盘"),
        # English extras
        ("tonight 8pm call mum", on(SAT, 2026, 3, 28, 20, 0), "call mum"),
        ("tonight 9 call mum", on(SAT, 2026, 3, 28, 21, 0), "call mum"),
        ("tonight at 12am sleep", on(SAT, 2026, 3, 29, 0, 0), "sleep"),
        ("tomorrow morning 9 run", on(SAT, 2026, 3, 29, 9, 0), "run"),
        ("tomorrow evening at 7 dinner", on(SAT, 2026, 3, 29, 19, 0), "dinner"),
        ("next monday 9:00 plan", on(SAT, 2026, 3, 30, 9, 0), "plan"),
        ("next friday 9:00 plan", on(SAT, 2026, 4, 3, 9, 0), "plan"),  # Friday of next week
        ("on friday 9am review", on(SAT, 2026, 4, 3, 9, 0), "review"),
        ("friday at 9am review", on(SAT, 2026, 4, 3, 9, 0), "review"),
        ("this sunday 10:00 hike", on(SAT, 2026, 3, 29, 10, 0), "hike"),
        ("every month on the 1st 9:00 pay rent", Cron(expr="0 9 1 * *"), "pay rent"),
        ("monthly on the 15th at 10am pay", Cron(expr="0 10 15 * *"), "pay"),
        ("every monday and thursday 9:00 gym", Cron(expr="0 9 * * 1,4"), "gym"),
        ("every mon-fri 7:30 run", Cron(expr="30 7 * * 1-5"), "run"),
    ],
)
def test_chinese_and_english_forms(text, schedule, rest):
    assert parse_when(text, SAT) == (schedule, rest)


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("晚上8点 x", on(WED, 2026, 11, 19, 20, 0)),  # passed: tomorrow's
        ("今晚9点 x", on(WED, 2026, 11, 18, 21, 0)),
        ("晚上12点 x", on(WED, 2026, 11, 19, 0, 0)),
        ("今晚12点 x", on(WED, 2026, 11, 19, 0, 0)),
        ("明晚12点 x", on(WED, 2026, 11, 20, 0, 0)),
        ("今晚1点 x", on(WED, 2026, 11, 19, 1, 0)),
        ("凌晨1点 x", on(WED, 2026, 11, 19, 1, 0)),
        ("两点 x", on(WED, 2026, 11, 19, 2, 0)),
        ("周三 9点 x", on(WED, 2026, 11, 25, 9, 0)),  # today's has passed
        ("周三晚上9点 x", on(WED, 2026, 11, 18, 21, 0)),
        ("这周日 9点 x", on(WED, 2026, 11, 22, 9, 0)),
        ("下周一 9点 x", on(WED, 2026, 11, 23, 9, 0)),
        ("下周三 9点 x", on(WED, 2026, 11, 25, 9, 0)),
        ("下下周一 9点 x", on(WED, 2026, 11, 30, 9, 0)),
        ("11月1日 9点 x", on(WED, 2027, 11, 1, 9, 0)),
        ("18号 22点 x", on(WED, 2026, 11, 18, 22, 0)),
        ("17号 9点 x", on(WED, 2026, 12, 17, 9, 0)),
        ("31号 9点 x", on(WED, 2026, 12, 31, 9, 0)),  # November has no 31st
        ("tonight 9pm x", on(WED, 2026, 11, 18, 21, 0)),
        ("next monday 9am x", on(WED, 2026, 11, 23, 9, 0)),
        ("next wednesday 9am x", on(WED, 2026, 11, 25, 9, 0)),
        ("wednesday 9pm x", on(WED, 2026, 11, 18, 21, 0)),
    ],
)
def test_on_a_wednesday_evening_in_shanghai(text, schedule):
    assert parse_when(text, WED) == (schedule, "x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("今天9点 太晚", "09:00 today has already passed"),
        ("今早8点 太晚", "08:00 today has already passed"),
        ("3月28日 9点 太晚", "2026-03-28 09:00 is in the past"),
        ("2025年12月1日 9点 去年", "2025-12-01 09:00 is in the past"),
        ("这周五 9点 已过", "2026-03-27 09:00 is in the past"),
        ("2月30日 9点 x", "2月30日 is not a date"),
        ("2026年13月1日 9点 x", "2026年13月1日 is not a date"),
        ("2026-02-30 9:00 x", "2026-02-30 is not a date"),
        ("0000-01-01 9:00 x", "is not a date"),
        ("每月32号 9点 x", "32号 is not a date"),
        ("每月0号 9点 x", "0号 is not a date"),
        ("每月31号晚上12点 x", "The night after the 31st"),
        ("早上13点 x", "早上13点 is not a time"),
        ("凌晨20点 x", "is not a time"),
        ("25点 x", "25:00 is not a time of day"),
        ("九点六十分 x", "9:60 is not a time of day"),
        ("9999年1月1日 9点 x", "too far ahead"),
        ("9999天后 9点 x", "too far ahead"),
        ("99999999分钟后 x", "too far ahead"),
        ("in 999999999 days x", "too far ahead"),
        ("every 99999999 days x", "too far ahead"),
        ("零分钟后 x", "The delay must be longer than zero"),
        ("每0小时 x", "The interval must be longer than zero"),
        ("明天早上9点", "What should I remind you of?"),
        ("每天 提醒我", "I could not tell when"),
        ("明天 开会", "I could not tell when"),
    ],
)
def test_errors_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_when(text, SAT)


def test_errors_and_usage_in_chinese():
    with i18n.using("zh_CN"):
        with pytest.raises(ValueError, match="随便什么时候") as unknown:
            parse_when("随便什么时候 开会", SAT)
        with pytest.raises(ValueError, match="09:00") as passed:
            parse_when("今天9点 开会", SAT)
    assert "/remind 明天早上9点" in str(unknown.value)
    for error in (unknown.value, passed.value):
        assert re.search(r"[\u4e00-\u9fff]", str(error))
        assert "remind you" not in str(error)


# --- properties -----------------------------------------------------------------------------

_DIGITS = "零一二三四五六七八九"


def zh(n: int, two: bool = False) -> str:
    """An independent writer of Chinese numerals 0–99 (两 for a lone 2 when ``two``)."""
    if n < 10:
        return "两" if two and n == 2 else _DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


# period → {hour of the day: (the hour as said, days after its day)}
SAID = {
    "": {h: (h, 0) for h in range(24)},
    "凌晨": {0: (12, 0)} | {h: (h, 0) for h in range(6)},
    "早上": {h: (h, 0) for h in range(5, 12)},
    "上午": {h: (h, 0) for h in range(6, 13)},
    "中午": {11: (11, 0), 12: (12, 0), 13: (1, 0)},
    "下午": {12: (12, 0)} | {h: (h - 12, 0) for h in range(13, 19)},
    "傍晚": {h: (h - 12, 0) for h in range(17, 20)},
    "晚上": {0: (12, 1)}
    | {h: (h, 1) for h in range(1, 5)}
    | {h: (h - 12, 0) for h in range(17, 24)},
}
SPOKEN = st.sampled_from([(p, h, *said) for p, hours in SAID.items() for h, said in hours.items()])


@st.composite
def clocks(draw) -> tuple[str, int, int, int]:
    """(text, hour of the day, minute, days after its day): a time as people write it."""
    period, hour, said, later = draw(SPOKEN)
    minute = draw(st.integers(0, 59))
    chinese = draw(st.booleans())
    spoken_hour = zh(said, two=draw(st.booleans())) if chinese else str(said)
    ways = [f"点{minute}分", f"点{minute:02d}"]
    if not chinese:
        ways.append(f":{minute:02d}")
    if minute >= 10:
        ways += [f"点{zh(minute)}分", f"点{zh(minute)}"]
    elif minute:
        ways.append(f"点零{zh(minute)}分")
    else:
        ways += ["点", "点整", "点钟"]
    ways += {15: ["点一刻"], 30: ["点半"], 45: ["点三刻"]}.get(minute, [])
    return f"{period}{spoken_hour}{draw(st.sampled_from(ways))}", hour, minute, later


@PROPERTY
@given(now=NOWS, clock=clocks())
def test_a_time_of_day_is_the_next_such_time(now, clock):
    text, hour, minute, _later = clock
    schedule, rest = parse_when(f"{text} 开会", now)
    assert rest == "开会"
    assert isinstance(schedule, At)
    when = local(schedule, now)
    assert timedelta(0) < real(when, now) <= timedelta(hours=25)
    if exists(when.date(), time(hour, minute), now.tzinfo):
        assert (when.hour, when.minute) == (hour, minute)
    # nothing earlier would do: the same wall time a day before is not ahead
    if exists(when.date() - timedelta(days=1), time(hour, minute), now.tzinfo):
        day_before = datetime.combine(when.date() - timedelta(days=1), time(hour, minute))
        assert day_before.replace(tzinfo=now.tzinfo, fold=1).astimezone(UTC) <= now.astimezone(UTC)


@PROPERTY
@given(now=NOWS, clock=clocks(), day=st.sampled_from([("明天", 1), ("后天", 2), ("大后天", 3)]))
def test_a_day_and_a_time_is_that_day(now, clock, day):
    text, hour, minute, later = clock
    word, offset = day
    schedule, _ = parse_when(f"{word}{text} 开会", now)
    expected = now.date() + timedelta(days=offset + later)
    when = local(schedule, now)
    assert real(when, now) > timedelta(0)  # (same-zone > compares wall clocks)
    if exists(expected, time(hour, minute), now.tzinfo):
        assert (when.date(), when.hour, when.minute) == (expected, hour, minute)


@PROPERTY
@given(now=NOWS, clock=clocks())
def test_today_is_today_or_says_it_has_passed(now, clock):
    text, hour, minute, later = clock
    if not later and not ahead(now.date(), time(hour, minute), now):
        with pytest.raises(ValueError, match=f"{hour:02d}:{minute:02d} today has already passed"):
            parse_when(f"今天{text} 开会", now)
        return
    schedule, _ = parse_when(f"今天{text} 开会", now)
    when = local(schedule, now)
    assert real(when, now) > timedelta(0)
    if exists(when.date(), time(hour, minute), now.tzinfo):
        expected = now.date() + timedelta(days=later)
        assert (when.date(), when.hour, when.minute) == (expected, hour, minute)


WEEKDAY_NAMES = st.sampled_from(
    [
        (f"{week}{day}", n)
        for week in ("周", "星期", "礼拜")
        for day, n in zip("一二三四五六日", range(1, 8), strict=True)
    ]
    + [("星期天", 7), ("礼拜天", 7)]
)


@PROPERTY
@given(now=NOWS, weekday=WEEKDAY_NAMES, clock=clocks())
def test_weekdays(now, weekday, clock):
    name, number = weekday
    text, hour, minute, later = clock
    monday = now.date() - timedelta(days=now.weekday())

    schedule, _ = parse_when(f"{name}{text} 开会", now)  # the next such day
    when = local(schedule, now)
    assert timedelta(0) < real(when, now) <= timedelta(days=8, hours=1)
    assert (when.date() - timedelta(days=later)).isoweekday() == number or not exists(
        when.date(), time(hour, minute), now.tzinfo
    )

    schedule, _ = parse_when(f"下{name}{text} 开会", now)  # next week's
    assert local(schedule, now).date() - timedelta(days=later) == monday + timedelta(
        days=6 + number
    ) or not exists(local(schedule, now).date(), time(hour, minute), now.tzinfo)

    this_week = monday + timedelta(days=number - 1 + later)
    if not ahead(this_week, time(hour, minute), now):
        with pytest.raises(ValueError, match="is in the past"):
            parse_when(f"这{name}{text} 开会", now)
        return
    schedule, _ = parse_when(f"这{name}{text} 开会", now)  # this week's
    assert real(schedule.time, now) > timedelta(0)
    assert monday <= local(schedule, now).date() - timedelta(days=later) < monday + timedelta(7)


@PROPERTY
@given(clock=clocks(), days=st.sets(st.integers(1, 7), min_size=1, max_size=7))
def test_recurring_times_become_cron(clock, days):
    text, hour, minute, later = clock
    assert parse_when(f"每天{text} 喝水", SAT)[0] == Cron(expr=f"{minute} {hour} * * *")
    names = "、".join("一二三四五六日"[n - 1] for n in sorted(days))
    weekdays = sorted({(n + later) % 7 for n in days})
    field = "1-5" if weekdays == [1, 2, 3, 4, 5] else ",".join(map(str, weekdays))
    assert parse_when(f"每周{names}{text} 喝水", SAT)[0] == Cron(
        expr=f"{minute} {hour} * * {field}"
    )
    assert parse_when(f"每月{zh(9)}号{text} 喝水", SAT)[0] == Cron(
        expr=f"{minute} {hour} {9 + later} * *"
    )


UNITS = [("秒", 1), ("秒钟", 1), ("分钟", 60), ("分", 60), ("小时", 3600), ("个小时", 3600)]
UNITS += [("钟头", 3600), ("个钟头", 3600), ("刻钟", 900), ("天", 86400), ("周", 604800)]
UNITS += [("个星期", 604800), ("个礼拜", 604800)]


@PROPERTY
@given(
    now=NOWS,
    amount=st.integers(1, 99),
    unit=st.sampled_from(UNITS),
    chinese=st.booleans(),
    half=st.booleans(),
    after=st.sampled_from(["后", "以后", "之后", ""]),
)
def test_durations_in_digits_or_chinese_numerals(now, amount, unit, chinese, half, after):
    word, seconds = unit
    said = zh(amount, two=True) if chinese else str(amount)
    total = amount * seconds
    if half:  # 一个半小时
        word, total = "个半" + word.removeprefix("个"), (amount + 0.5) * seconds
    schedule, rest = parse_when(f"{said}{word}{after} 喝水", now)
    assert rest == "喝水"
    assert isinstance(schedule, At)
    assert real(schedule.time, now) == timedelta(seconds=total)
    every, _ = parse_when(f"每{said}{word} 喝水", now)
    assert every == Every(seconds=total)


FRAGMENTS = [
    *"每周一二两三五六日天十百零〇点点半刻分号日月年后个:：-、,/~ ",
    "下午", "晚上", "凌晨", "中午", "今晚", "明早", "明天", "后天", "大后天", "下下", "这", "本",
    "星期", "礼拜", "工作日", "小时", "分钟", "秒", "钟头", "刻钟", "过", "再", "隔", "整",
    "0", "00", "1", "9", "12", "13", "24", "25", "29", "30", "31", "32", "60", "2026", "9999",
    "every", "day", "daily", "weekdays", "monday", "fri", "sun", "next", "this", "on", "at",
    "tonight", "today", "tomorrow", "morning", "night", "month", "monthly", "the", "1st",
    "am", "pm", "in", "2h", "30m", "and", "T", "ſ", "ı", "İ", "K", "٣", "１", "x",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(
    now=NOWS,
    text=st.one_of(
        st.text(max_size=40),
        st.lists(st.sampled_from(FRAGMENTS), max_size=10).map("".join),
        st.lists(st.sampled_from(FRAGMENTS), max_size=6).map(" ".join),
    ),
)
def test_any_text_is_understood_or_refused_with_a_message(now, text):
    try:
        schedule, rest = parse_when(text, now)
    except ValueError as error:
        refusal = str(error)
    else:
        refusal = None
    if refusal is not None:  # refused: with a message; any other exception fails the test
        assert refusal
        return
    assert rest
    assert isinstance(schedule, At | Every | Cron)
    if isinstance(schedule, At):
        assert schedule.time.astimezone(UTC) > now.astimezone(UTC)
