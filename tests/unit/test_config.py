"""Every class of config error names the key path and the fix; never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.config import find_config_path, load_config, masked_dump, parse_config
from assistant.core.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "config" / "assistant.example.toml"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env or {}, source="c.toml")
    return info.value.problems


def test_example_config_is_valid_without_any_environment():
    config = load_config(EXAMPLE, {})
    assert config.models == [] and config.gateway.host == "127.0.0.1"
    assert config.assistant.state_dir == Path("/var/lib/assistant")


def test_example_config_documents_every_key():
    text = EXAMPLE.read_text()
    from assistant.config import Config

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            yield name
            annotation = field.annotation
            sub = getattr(annotation, "model_fields", None)
            if sub is not None:
                yield from keys(annotation)

    missing = [k for k in set(keys(Config)) if k not in text]
    assert missing == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[assistant]\nnmae = 'x'\n",
            "c.toml: assistant.nmae: unknown key, remove it or fix its spelling; did you mean 'name'?",
        ),
        (
            "[gateway]\nport = 'high'\n",
            "c.toml: gateway.port: Input should be a valid integer, unable to parse string as an integer (got 'high')",
        ),
        (
            "[gateway]\nport = 70000\n",
            "c.toml: gateway.port: Input should be less than or equal to 65535 (got 70000)",
        ),
        (
            "[[models]]\nname = 'a'\nbase_url = 'https://x/v1'\n",
            "c.toml: models[0].model: required key is missing; add it",
        ),
        (
            "[[models]]\nname = 'a'\nmodel = 'm'\nbase_url = 'x.com'\n",
            "c.toml: models[0].base_url: 'x.com' is not an http(s) URL; use e.g. 'https://api.openai.com/v1'",
        ),
        (
            "[assistant]\ntimezone = 'Mars/Base'\n",
            "c.toml: assistant.timezone: unknown time zone 'Mars/Base'; use an IANA name such as 'UTC', 'Europe/Berlin' or 'Asia/Shanghai'",
        ),
        (
            "[logging]\nlevel = 'loud'\n",
            "c.toml: logging.level: Input should be 'debug', 'info', 'warning' or 'error' (got 'loud')",
        ),
        (
            "[access]\nowners = ['12345']\n",
            "c.toml: access.owners: '12345' is not 'telegram:USER_ID', 'feishu:OPEN_ID', 'slack:MEMBER_ID' or 'whatsapp:PHONE_NUMBER'",
        ),
        (
            "[access.telegram]\nusers = { '1' = 'boss' }\n",
            "c.toml: access.telegram.users.1: Input should be 'owner', 'admin', 'user' or 'guest' (got 'boss')",
        ),
        (
            "[access.permissions]\nuser = ['fly']\n",
            "c.toml: access.permissions.user[0]: Input should be 'chat', 'model', 'system', 'exec', 'exec.readonly', 'approve', 'memory', 'schedule', 'admin', 'web.read' or 'alerts' (got 'fly')",
        ),
        (
            "[[routing]]\nmodel = 'nope'\nkeywords = ['x']\n",
            "c.toml: (top level): routing rule points to unknown model 'nope'; known: none",
        ),
        (
            "[[models]]\nname='a'\nmodel='m'\nbase_url='http://x'\n[[models]]\nname='a'\nmodel='m'\nbase_url='http://x'\n",
            "c.toml: (top level): model names must be unique; repeated: a",
        ),
        (
            "[[models]]\nname='a'\nmodel='m'\nbase_url='http://x'\nfallback=['b']\n",
            "c.toml: (top level): model 'a' falls back to unknown model 'b'; known: a",
        ),
        (
            "[feishu]\nenabled = true\napp_id = 'cli_x'\n",
            "c.toml: feishu: feishu is enabled but has no app_id or app_secret; set app_id = "
            '"cli_..." and app_secret = "${FEISHU_APP_SECRET}" from the app\'s Credentials page '
            "in the developer console",
        ),
        (
            "[feishu]\ndomain = 'http://open.example.org'\n",
            "c.toml: feishu.domain: 'http://open.example.org' is not a Feishu domain; use "
            "'feishu' (China), 'lark' (Lark international) or the https:// address of the Open "
            "API (no path)",
        ),
        (
            "[feishu]\nenabled = true\napp_id = 'cli_x'\napp_secret = 's'\nmode = 'webhook'\n",
            "c.toml: feishu: webhook mode needs verification_token (developer console → Events "
            "& Callbacks → Encryption Strategy); set verification_token = "
            '"${FEISHU_VERIFICATION_TOKEN}"',
        ),
    ],
)
def test_each_error_names_the_key_and_the_fix(text, expected):
    assert problems(text) == [expected]


def test_secret_values_are_not_echoed_in_errors():
    found = problems("[[models]]\nname='a'\nmodel='m'\nbase_url='http://x'\napi_key=12345678\n")
    assert found == ["c.toml: models[0].api_key: Input should be a valid string"]


def test_all_problems_are_reported_together():
    found = problems("[assistant]\nbad = 1\n[gateway]\nport = 'x'\n[nope]\n")
    assert len(found) == 3


def test_environment_references():
    text = (
        "[[models]]\nname = 'a'\nmodel = '${MODEL:-default-model}'\nbase_url = '${URL}'\n"
        "api_key = '${KEY}'\n[assistant]\nname = 'costs $$5'\n"
    )
    config = parse_config(text, {"URL": "https://api.example.com/v1", "KEY": "sk-123"})
    assert config.models[0].model == "default-model"
    assert config.models[0].api_key.get_secret_value() == "sk-123"
    assert config.assistant.name == "costs $5"
    missing = problems(text, {})
    assert missing == [
        "c.toml: models[0].base_url: environment variable URL is not set; set it in the "
        "environment or in /etc/assistant/assistant.env, or write ${URL:-default}",
        "c.toml: models[0].api_key: environment variable KEY is not set; set it in the "
        "environment or in /etc/assistant/assistant.env, or write ${KEY:-default}",
    ]


@pytest.mark.parametrize(
    ("domain", "base_url"),
    [
        ("feishu", "https://open.feishu.cn"),
        ("lark", "https://open.larksuite.com"),
        ("https://open.example.org/", "https://open.example.org"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),  # loopback only, for tests
    ],
)
def test_feishu_domains(domain, base_url):
    assert parse_config(f"[feishu]\ndomain = '{domain}'\n", {}).feishu.base_url == base_url


def test_blank_optional_secret_means_unset():
    config = parse_config("[gateway]\nadmin_token = '${T:-}'\n", {})
    assert config.gateway.admin_token is None


def test_invalid_toml_names_the_line():
    assert problems("[gateway]\nport = \n") == [
        "c.toml: invalid TOML: Invalid value (at line 2, column 8)"
    ]


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml", {})
    assert "config file not found" in info.value.problems[0]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {})  # a directory: unreadable as a file
    assert info.value.problems == [
        f"{tmp_path}: cannot read config file (Is a directory); fix its permissions or encoding"
    ]
    (tmp_path / "latin1.toml").write_bytes(b"name = '\xff'\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "latin1.toml", {})


def test_search_order():
    assert find_config_path("/x.toml", {"ASSISTANT_CONFIG": "/y.toml"}) == Path("/x.toml")
    assert find_config_path(None, {"ASSISTANT_CONFIG": "/y.toml"}) == Path("/y.toml")
    assert find_config_path(None, {}) == Path("/etc/assistant/config.toml")


def test_models_are_frozen():
    config = parse_config("", {})
    with pytest.raises(Exception, match="frozen"):
        config.assistant.name = "x"  # type: ignore[misc]


def test_masked_dump_hides_every_secret():
    config = parse_config(
        "[gateway]\nadmin_token = 'tok-abcdef'\n[[models]]\nname='a'\nmodel='m'\n"
        "base_url='http://x'\napi_key='sk-secret-value'\nheaders = { X-Key = 'hdr-secret' }\n",
        {},
    )
    dumped = repr(masked_dump(config))
    for secret in ("tok-abcdef", "sk-secret-value", "hdr-secret"):
        assert secret not in dumped
    assert dumped.count("**********") == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    path.chmod(0)
    with pytest.raises(ConfigError, match="Permission denied"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("text", "seconds", "warned"),
    [
        ("", 600.0, False),
        ("[approvals]\ntimeout = 90\n", 90.0, False),
        ("[ssh]\napproval_timeout = 120\n", 120.0, True),  # the old name alone: still read
        ("[approvals]\ntimeout = 90\n[ssh]\napproval_timeout = 120\n", 90.0, True),
    ],
)
def test_the_approval_timeout_and_its_deprecated_alias(text, seconds, warned):
    import structlog

    from assistant.features.approvals import warn_deprecated

    config = parse_config(text, {})
    assert config.approvals.timeout == seconds
    with structlog.testing.capture_logs() as logs:
        warn_deprecated(config)
    said = [e for e in logs if e["event"] == "config.deprecated"]
    assert said == (
        [{**said[0], "key": "ssh.approval_timeout", "seconds": seconds}] if warned else []
    )
