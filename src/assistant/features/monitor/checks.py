"""The doctor's look at host monitoring: which hosts are probed, and the CJK font the charts'
Chinese labels need."""

from __future__ import annotations

from assistant.feature import Check, CheckContext, Finding, Status, skipped_without_config
from assistant.features.monitor.charts import FONTS, find_font


async def check_monitor(ctx: CheckContext) -> list[Finding]:
    name = "monitor"
    config = ctx.config
    if config is None:
        return skipped_without_config(name)
    hosts = [h.name for h in config.ssh.hosts if h.monitor]
    if not config.monitor.enabled or not config.ssh.enabled or not hosts:
        return [Finding(name, Status.SKIP, "no monitored hosts (monitor = true in [[ssh.hosts]])")]
    found = [
        Finding(name, Status.OK, f"probing {', '.join(hosts)} every {config.monitor.interval:g} s")
    ]
    font = find_font(config.monitor.font)
    configured = config.monitor.font
    if configured and font != configured:
        found.append(
            Finding(
                f"{name}.font",
                Status.WARN,
                f"[monitor] font = {configured!r} does not exist; charts use "
                f"{font or 'no CJK font'}",
                "point [monitor] font at an existing .ttf/.ttc/.otf file, or remove it",
            )
        )
    elif font is None:
        wanted = config.monitor.font or FONTS[0]
        found.append(
            Finding(
                f"{name}.font",
                Status.WARN,
                f"no CJK font at {wanted}: Chinese labels in charts show as boxes",
                "sudo apt-get install fonts-wqy-microhei, or set [monitor] font to a CJK font",
            )
        )
    else:
        found.append(Finding(f"{name}.font", Status.OK, f"charts' CJK font: {font}"))
    return found


CHECKS = (Check("monitor", check_monitor, timeout=5),)
