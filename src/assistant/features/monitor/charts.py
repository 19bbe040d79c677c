"""Charts as PNG, with matplotlib's Agg backend (chosen by measurement: docs/performance.md).

Nothing of matplotlib is imported until the first chart (0.5 s, ~35 MB). A chart is drawn on
a ``Figure`` of its own (never pyplot's global state) in a worker thread, one at a time, so
the event loop does not wait the ~0.2 s it takes. Sized for a phone: 900 px wide, labels at
about 20 px. Chinese labels need a CJK font, found by path (no fontconfig cache needed):
``[monitor] font``, else Debian's fonts-wqy-microhei, else other common CJK fonts.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

log = structlog.get_logger(__name__)

FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
WIDTH_INCHES, DPI = 6.0, 150  # 900 px wide

_lock = threading.Lock()
_ready: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Panel:
    """One plot: a label for its y axis, its points (epoch seconds, value) and, optionally, a
    threshold drawn as a dashed line."""

    label: str
    points: Sequence[tuple[int, float]]
    unit: str = ""
    threshold: float | None = None
    percent: bool = False  # a 0–100 axis


def find_font(configured: str | None = None) -> str | None:
    for candidate in (configured, *FONTS):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _matplotlib(font: str | None, cache: Path | None) -> Any:
    """Import matplotlib (once) with the Agg backend and the CJK font registered."""
    if "figure" in _ready:
        return _ready
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MPLCONFIGDIR", str(cache))  # its font list cache, kept
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    families = ["DejaVu Sans"]
    if font is not None:
        font_manager.fontManager.addfont(font)
        families.insert(0, font_manager.FontProperties(fname=font).get_name())
    else:
        log.warning("monitor.no_cjk_font", looked_at=list(FONTS))
    matplotlib.rcParams.update(
        {"font.family": families, "font.size": 10, "axes.titlesize": 11, "svg.fonttype": "none"}
    )
    _ready.update(figure=Figure, matplotlib=matplotlib)
    return _ready


def render(
    title: str,
    panels: Sequence[Panel],
    *,
    zone: str,
    start: float,
    end: float,
    font: str | None = None,
    cache: Path | None = None,
) -> bytes:
    """A PNG of ``panels`` stacked over one time axis from ``start`` to ``end``."""
    with _lock:
        mpl = _matplotlib(font, cache)
        from matplotlib.ticker import FixedLocator, FuncFormatter

        tz = ZoneInfo(zone)
        span = end - start
        fmt = "%H:%M" if span <= 36 * 3600 else "%m-%d"
        height = 1.2 + 1.9 * len(panels)
        figure = mpl["figure"](figsize=(WIDTH_INCHES, height), dpi=DPI)
        axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels, strict=True):
            xs = [p[0] for p in panel.points]
            ys = [p[1] for p in panel.points]
            few = len(xs) <= 60  # a line alone would not show one or two samples
            ax.plot(xs, ys, linewidth=1.3, color="#1f77b4", marker="o" if few else None, ms=3)
            if panel.threshold is not None:
                ax.axhline(panel.threshold, color="#d62728", linestyle="--", linewidth=1)
            if panel.percent:
                ax.set_ylim(0, 100)
                ax.set_yticks((0, 25, 50, 75, 100))
            ax.set_ylabel(f"{panel.label} {panel.unit}".strip())
            ax.grid(True, alpha=0.3)
            if ys:
                ax.annotate(
                    f"{ys[-1]:.1f}{panel.unit}",
                    xy=(1, 1),
                    xycoords="axes fraction",
                    ha="right",
                    va="bottom",
                    fontsize=9,
                )
        last = axes[-1]
        last.set_xlim(start, end)
        last.xaxis.set_major_locator(FixedLocator(ticks(start, end, tz)))
        last.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _: datetime.fromtimestamp(x, tz).strftime(fmt))
        )
        axes[0].set_title(title, loc="left")
        figure.subplots_adjust(
            left=0.13, right=0.97, top=1 - 0.45 / height, bottom=0.4 / height, hspace=0.25
        )
        import io

        buffer = io.BytesIO()
        # zlib level 3 instead of 6: 60-100 ms less per chart, for about 15 % more bytes
        figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 3})
        return buffer.getvalue()


def ticks(start: float, end: float, tz: ZoneInfo) -> list[float]:
    """Time-axis ticks on round local times, five to eight of them: every 15 minutes for up
    to 2 hours, hourly up to 6, 4-hourly up to 36, daily up to 8 days, every 5 days beyond."""
    span = end - start
    steps = ((2 * 3600, 900), (6 * 3600, 3600), (36 * 3600, 4 * 3600), (8 * 86400, 86400))
    step = next((size for upto, size in steps if span <= upto), 5 * 86400)
    offset = datetime.fromtimestamp(end, tz).utcoffset()
    shift = offset.total_seconds() if offset is not None else 0.0
    first = -(-(start + shift) // step) * step - shift
    return [first + i * step for i in range(int((end - first) // step) + 1)]


async def render_async(title: str, panels: Sequence[Panel], **options: Any) -> bytes:
    return await asyncio.to_thread(render, title, panels, **options)


def imported() -> bool:
    """Whether a chart has been drawn in this process (matplotlib is loaded)."""
    return "figure" in _ready
