"""A check's regex over text someone else wrote (a command's output, a web page's body).

The pattern is a person's and the text may be anyone's, so a pattern that backtracks for ever
(``(x+x+)+y`` over a line of x) is likely enough: it runs off the event loop, in the ``regex``
package (the ``re`` syntax, with a time limit ``re`` lacks; imported on the first search),
and a search that passes its limit counts as no match.
"""

from __future__ import annotations

import asyncio

import structlog

log = structlog.get_logger(__name__)

TIME_LIMIT = 1.0  # seconds one search may take


def checked(pattern: str) -> str:
    """``pattern`` if it compiles, else ``ValueError`` with the reason."""
    import regex

    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(str(exc)) from None
    return pattern


async def search(pattern: str, text: str, *, limit: float = TIME_LIMIT) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` within ``limit`` seconds."""

    def run() -> bool:
        import regex

        try:
            return regex.search(pattern, text, timeout=limit) is not None
        except TimeoutError:
            log.warning("check.regex_timeout", seconds=limit, chars=len(text))
            return False

    return await asyncio.to_thread(run)
