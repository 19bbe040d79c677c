"""docs/reference.md is generated from the config models; it must match them."""

from __future__ import annotations

from pathlib import Path

from assistant.config import Config
from assistant.ops.reference import EXAMPLE, comments, render, submodel

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT / "docs" / "reference.md"


def test_committed_reference_is_current():
    assert REFERENCE.read_text() == render(EXAMPLE.read_text()), (
        "docs/reference.md is stale: run  python -m assistant.ops.reference > docs/reference.md"
    )


def test_reference_has_every_key_with_its_meaning():
    text = render(EXAMPLE.read_text())

    def check(model, where=""):
        for name, field in model.model_fields.items():
            path = f"{where}.{name}".lstrip(".")
            sub = submodel(field.annotation)
            if sub is None:
                assert f"| `{name}` |" in text, path
            else:
                assert f"## `[{path}]`" in text or f"## `[[{path}]]`" in text, path
                check(sub, path)

    check(Config)
    assert "| `drain_timeout` | number (> 0, ≤ 600) | `10` | Seconds that turns" in text
    assert "| `base_url` | string | required | the API root" in text


def test_comments_are_read_from_above_keys_tables_and_headers():
    said = comments(
        "# intro, not attached\n\n"
        "# What the section is.\n[a]\n# What x is.\nx = 1\n# example: y = 2\ny = 3\n"
        "# Keys of each entry:\n#   name    the name\n# [[list]]\n# name = 'n'\n"
    )
    assert said == {
        ("a",): "What the section is.",
        ("a", "x"): "What x is.",
        ("list", "name"): "the name",
    } | {("a", "y"): said[("a", "y")]}
    assert "example" in said[("a", "y")]
