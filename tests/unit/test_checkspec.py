"""``/check`` lines, HTTP status specs and TLS targets: parsed without the model."""

from __future__ import annotations

import re

import pytest

from assistant.core import i18n
from assistant.scheduler.checkspec import HTTP_EVERY, TLS_EVERY, parse_check
from assistant.scheduler.types import TASK, HttpCheck, TlsCheck, status_range, tls_target


@pytest.mark.parametrize(
    ("line", "every", "check"),
    [
        ("https://example.com/", HTTP_EVERY, HttpCheck(url="https://example.com/")),
        (
            "http https://example.com/health every 1m status 2xx latency 1.5s match status: ok",
            60,
            HttpCheck(url="https://example.com/health", max_latency=1.5, regex="status: ok"),
        ),
        (
            "https://example.com/ head status 200-399 timeout 500ms",
            HTTP_EVERY,
            HttpCheck(url="https://example.com/", method="HEAD", status="200-399", timeout=0.5),
        ),
        (
            'https://example.com/ match "a b\\d+"',
            HTTP_EVERY,
            HttpCheck(url="https://example.com/", regex="a b\\d+"),
        ),
        ("tls example.com", TLS_EVERY, TlsCheck(host="example.com")),
        (
            "tls example.com:8443 every 6h days 30",
            6 * 3600,
            TlsCheck(host="example.com", port=8443, days=30),
        ),
        ("TLS [::1]:443 days 0", TLS_EVERY, TlsCheck(host="::1", days=0)),
    ],
)
def test_check_lines(line, every, check):
    schedule, parsed = parse_check(line)
    assert (schedule.seconds, parsed) == (every, check)
    assert TASK.validate_json(TASK.dump_json(parsed)) == parsed  # stored and read back


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("", "Usage: /check"),
        ("ftp://example.com/", "is not an http:// or https:// URL"),
        ("https://admin:s3cret@example.com/", "may not carry a user name or password"),
        ("https://example.com/ status 700", "is not an HTTP status"),
        ("https://example.com/ head match ok", "HEAD request has no body"),
        ("https://example.com/ match (", "is not a regex"),
        ("https://example.com/ days 3", "days is for TLS checks"),
        ("https://example.com/ sometimes", "I do not know “sometimes”"),
        ("https://example.com/ match", "Usage: /check"),
        ("tls example.com latency 2s", "A TLS check takes only"),
        ("tls example.com/path", "is not HOST or HOST:PORT"),
        ("tls example.com:99999", "is not HOST or HOST:PORT"),
        ("tls example.com days many", "days must be a whole number"),
        ("https://example.com/ timeout 10m", "timeout: Input should be less than or equal to 120"),
    ],
)
def test_lines_refused_with_a_reason(line, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_check(line)


def test_refusals_in_chinese():
    with (
        i18n.using("zh_CN"),
        pytest.raises(ValueError, match=r"^'700' 不是 HTTP 状态码：请写 200、200-399 或 2xx$"),
    ):
        parse_check("https://example.com/ status 700")


def test_status_ranges_and_targets():
    assert status_range("200") == (200, 200)
    assert status_range(" 200 - 299 ") == (200, 299)
    assert status_range("3XX") == (300, 399)
    for bad in ("299-200", "99", "6xx", "abc", "2000"):
        with pytest.raises(ValueError, match="is not an HTTP status"):
            status_range(bad)
    assert tls_target("https://example.com/") == ("example.com", 443)
    assert tls_target("[2001:db8::1]:8443") == ("2001:db8::1", 8443)
    assert TlsCheck(host="2001:db8::1", port=8443).target == "[2001:db8::1]:8443"
