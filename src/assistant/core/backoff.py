"""Jittered exponential backoff that resets after a success."""

from __future__ import annotations

import random

# One generator for every Backoff: seeding a new ``random.Random()`` reads os.urandom and
# hashes it, which cost more than the rest of a reply's delivery (measured, docs/performance.md).
_SHARED = random.Random()  # noqa: S311 - jitter, not cryptography


class Backoff:
    """Full-jitter exponential backoff: delay n is uniform in [base, min(cap, base * 2**n)]."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, *, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempts = 0
        self._rng = rng or _SHARED

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 32)))
        self.attempts += 1
        return self._rng.uniform(self.base, max(self.base, ceiling))

    def reset(self) -> None:
        self.attempts = 0
