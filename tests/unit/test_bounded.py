"""The one bounded mapping: what is remembered per key never grows past its size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.core.bounded import BoundedDict


def test_least_recently_used_is_forgotten_first():
    d: BoundedDict[str, int] = BoundedDict(3)
    for n, key in enumerate("abc"):
        d[key] = n
    assert d.get("a") == 0  # a read is a use: b is now the oldest
    d["d"] = 3
    assert list(d) == ["c", "a", "d"]
    assert "b" not in d and d.get("b") is None and d.get("b", -1) == -1
    d["c"] = 9  # setting again is a use too
    d["e"] = 4
    assert list(d) == ["d", "c", "e"]
    assert "d" in d and next(iter(d)) == "d"  # `in` is not a use
    assert d.pop("c") == 9 and len(d) == 2
    del d["d"]
    assert dict(d.items()) == {"e": 4}
    with pytest.raises(KeyError):
        d["gone"]
    with pytest.raises(ValueError, match="maxsize"):
        BoundedDict(0)


@given(st.integers(1, 8), st.lists(st.tuples(st.booleans(), st.integers(0, 12)), max_size=80))
def test_never_past_maxsize_and_keeps_the_most_recent(maxsize, ops):
    d: BoundedDict[int, int] = BoundedDict(maxsize)
    recent: list[int] = []  # keys by last use, oldest first (the model)
    for write, key in ops:
        if write:
            d[key] = key
        elif d.get(key) is None:
            continue
        if key in recent:
            recent.remove(key)
        recent.append(key)
        recent = recent[-maxsize:]
        assert len(d) <= maxsize
        assert list(d) == recent
