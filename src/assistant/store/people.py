"""Each person's own settings: the language and time zone they chose (/lang, /tz).

A person is ``channel:user_id``. Read once per message, so kept in a cache that every write
clears for that person (one process owns the database).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from assistant.store.db import Database


@dataclass(frozen=True, slots=True)
class PersonSettings:
    language: str | None = None
    timezone: str | None = None


NONE = PersonSettings()


class People:
    def __init__(self, db: Database, *, cache_size: int = 4096) -> None:
        self._db = db
        self._cache: dict[str, PersonSettings] = {}
        self._cache_size = cache_size

    async def get(self, person: str) -> PersonSettings:
        found = self._cache.get(person)
        if found is not None:
            return found
        row = await self._db.fetchone(
            "SELECT language, timezone FROM person_settings WHERE person = ?", (person,)
        )
        settings = PersonSettings(row["language"], row["timezone"]) if row else NONE
        if len(self._cache) >= self._cache_size:
            self._cache.clear()  # a group of thousands: start over rather than grow
        self._cache[person] = settings
        return settings

    async def set_language(self, person: str, language: str | None) -> None:
        await self._db.execute(
            "INSERT INTO person_settings (person, language, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (person) DO UPDATE SET language = excluded.language, "
            "updated_at = excluded.updated_at",
            (person, language, time.time()),
        )
        self._cache.pop(person, None)

    async def set_timezone(self, person: str, timezone: str | None) -> None:
        await self._db.execute(
            "INSERT INTO person_settings (person, timezone, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (person) DO UPDATE SET timezone = excluded.timezone, "
            "updated_at = excluded.updated_at",
            (person, timezone, time.time()),
        )
        self._cache.pop(person, None)
