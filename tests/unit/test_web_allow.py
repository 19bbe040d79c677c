"""[[web.allow]]: a write without approval only where the rule says, judged on the URL as it is
sent (dot segments resolved, as aiohttp sends them), never on the text the model wrote."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from assistant.config.web import WebSection
from assistant.features.web.tools import allowed_write

RULE = "https://hooks.example.com/deploy/*"
SECTION = WebSection(allow=[{"method": "POST", "url": RULE}])


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/deploy/../admin",
        "https://hooks.example.com/deploy/%2e%2e/admin",
        "https://hooks.example.com/deploy/%2E%2E/%2E%2E/admin",
        "https://hooks.example.com/deploy/..%2fadmin",  # a server may take %2F as a slash
        "https://hooks.example.com/deploy/..%5cadmin",
        "https://hooks.example.com/deploy/x/../../admin",
    ],
)
def test_dot_segments_do_not_leave_the_rule(url):
    assert not allowed_write(SECTION, "POST", url)


def test_what_the_rule_names_is_allowed():
    assert allowed_write(SECTION, "POST", "https://hooks.example.com/deploy/web1?now=1")
    assert allowed_write(SECTION, "POST", "HTTPS://HOOKS.example.com/deploy/web1")
    assert not allowed_write(SECTION, "PUT", "https://hooks.example.com/deploy/web1")


PIECES = ["..", ".", "/", "%2e", "%2E", "%2f", "%5c", "\\", "a", "@", "?", "#", ":"]


@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_an_allowed_write_goes_where_the_rule_says(tail):
    url = "https://hooks.example.com/deploy/" + tail
    if not allowed_write(SECTION, "POST", url):
        return
    sent = URL(url)
    assert sent.host == "hooks.example.com" and sent.path.startswith("/deploy/")
    assert "/../" not in sent.path + "/" and "%2f" not in sent.raw_path.lower()
