"""Host metrics over time, in the state database, bounded: raw samples for 24 hours,
five-minute averages for 7 days, hourly averages for 90 days. ``maintain(now)`` computes the
averages of the buckets that are complete and drops what is past its tier's age; the monitor
calls it on its clock after each probe round. Every statement works one series at a time
through the primary key (series, tier, at), so none scans the whole table."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from assistant.store.db import Database, transaction

RAW, FIVE_MINUTES, HOURLY = 0, 1, 2
BUCKET = {FIVE_MINUTES: 300, HOURLY: 3600}
KEEP = {RAW: 24 * 3600, FIVE_MINUTES: 7 * 86400, HOURLY: 90 * 86400}


@dataclass(frozen=True, slots=True)
class Point:
    at: int
    value: float


def tier_for(span: float) -> int:
    """The finest tier that covers ``span`` seconds back from now."""
    if span <= KEEP[RAW]:
        return RAW
    if span <= KEEP[FIVE_MINUTES]:
        return FIVE_MINUTES
    return HOURLY


def _series_id(conn: sqlite3.Connection, host: str, metric: str) -> int:
    row = conn.execute(
        "SELECT id FROM monitor_series WHERE host = ? AND metric = ?", (host, metric)
    ).fetchone()
    if row is not None:
        return int(row[0])
    cursor = conn.execute("INSERT INTO monitor_series (host, metric) VALUES (?, ?)", (host, metric))
    return int(cursor.lastrowid or 0)


def add_samples(conn: sqlite3.Connection, host: str, at: int, values: dict[str, float]) -> None:
    with transaction(conn):
        for metric, value in values.items():
            conn.execute(
                "INSERT OR REPLACE INTO monitor_samples VALUES (?, 0, ?, ?)",
                (_series_id(conn, host, metric), at, value),
            )


def _roll(conn: sqlite3.Connection, series: list[int], tier: int, start: int, end: int) -> None:
    size = BUCKET[tier]
    for sid in series:
        conn.execute(
            "INSERT OR REPLACE INTO monitor_samples (series, tier, at, value) "
            "SELECT series, ?, (at / ?) * ?, avg(value) FROM monitor_samples "
            "WHERE series = ? AND tier = ? AND at >= ? AND at < ? GROUP BY at / ?",
            (tier, size, size, sid, tier - 1, start, end, size),
        )


def maintain(conn: sqlite3.Connection, now: int) -> None:
    """Average the complete buckets not averaged yet, then drop samples past their age."""
    with transaction(conn):
        series = [int(r[0]) for r in conn.execute("SELECT id FROM monitor_series")]
        done = dict(conn.execute("SELECT tier, upto FROM monitor_rollups").fetchall())
        for tier in (FIVE_MINUTES, HOURLY):
            size = BUCKET[tier]
            end = now // size * size
            start = int(done.get(tier, end - KEEP[tier - 1] // size * size))
            if end > start:
                _roll(conn, series, tier, start, end)
                conn.execute("INSERT OR REPLACE INTO monitor_rollups VALUES (?, ?)", (tier, end))
        for sid in series:
            for tier, age in KEEP.items():
                conn.execute(
                    "DELETE FROM monitor_samples WHERE series = ? AND tier = ? AND at < ?",
                    (sid, tier, now - age),
                )


def window(
    conn: sqlite3.Connection, host: str, metric: str, since: int, until: int, tier: int
) -> list[Point]:
    rows = conn.execute(
        "SELECT s.at, s.value FROM monitor_samples s JOIN monitor_series m ON m.id = s.series "
        "WHERE m.host = ? AND m.metric = ? AND s.tier = ? AND s.at >= ? AND s.at <= ? "
        "ORDER BY s.at",
        (host, metric, tier, since, until),
    ).fetchall()
    return [Point(int(r[0]), float(r[1])) for r in rows]


class SeriesStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, host: str, at: float, values: dict[str, float]) -> None:
        if values:
            await self._db.call(add_samples, host, int(at), values)

    async def maintain(self, now: float) -> None:
        await self._db.call(maintain, int(now))

    async def window(self, host: str, metric: str, *, now: float, span: float) -> list[Point]:
        """The samples of the last ``span`` seconds, from the finest tier that keeps them."""
        tier = tier_for(span)
        return await self._db.call(window, host, metric, int(now - span), int(now), tier)

    async def metrics(self, host: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT metric FROM monitor_series WHERE host = ? ORDER BY metric", (host,)
        )
        return [str(r[0]) for r in rows]
