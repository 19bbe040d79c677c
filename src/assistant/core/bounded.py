"""A mapping that never grows past a size: what the assistant remembers per chat or person
(rate windows, notices given, message kinds, names) for as long as it is in use."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class BoundedDict(MutableMapping[K, V]):
    """At most ``maxsize`` entries; past that the least recently used is forgotten first.

    Setting a key and reading it (``d[key]``, ``get``) use it; ``in``, ``len`` and iteration
    (oldest first) do not.
    """

    __slots__ = ("_items", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a BoundedDict needs maxsize >= 1")
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()

    def __getitem__(self, key: K) -> V:
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    @overload
    def get(self, key: K, default: None = None) -> V | None: ...

    @overload
    def get(self, key: K, default: V | D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: K, value: V) -> None:
        items = self._items
        items[key] = value
        items.move_to_end(key)
        while len(items) > self.maxsize:
            items.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"BoundedDict({self.maxsize}, {dict(self._items)!r})"
