"""Secrets never reach the log: by key, by shape, and by the literal values in the config."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from assistant.core.redact import MASK, Redactor
from assistant.logging import setup_logging
from tests.conftest import configure_test_logging

BOT_TOKEN = "7712345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
OPENAI_KEY = "sk-proj-Abc123Def456Ghi789Jkl012Mno345"
ANTHROPIC_KEY = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
TENANT = "t-g1044ghJRUIJJ5ELPWIR3OLY2ZW4LSZ7PM3GQJJN"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDx3bQ6pqTHv8R8ZxXq2K7u0f4lM3rWcYjv4g0uQk1hAAAAkH7mYtJ+5mLS\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
WS_URL = (
    "wss://msg-frontier.feishu.cn/ws/v2?fpid=493&aid=552564&device_id=7&"
    "access_key=abcd1234efgh5678&service_id=33554678&ticket=6a3c8f9e-1b2c-4d5e"
)
CONFIG_SECRET = "plain-looking-config-secret"
APP_TOKEN = "a-32bd8551db2f081cbfd26293f27516390b9feb04"
CARD_TOKEN = "c-295ee57216a5dc9de90fefd0aadb4b1d7d337bc8"
FEISHU_SECRET = "dskLLdkasdjlasdKK9"
EVENT_TOKEN = "066zT6pS4QCbgj5Do145GfDbbagCHGgF"
FEISHU = [APP_TOKEN, CARD_TOKEN, FEISHU_SECRET, EVENT_TOKEN]
ALL = [
    BOT_TOKEN,
    OPENAI_KEY,
    ANTHROPIC_KEY,
    JWT,
    TENANT,
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
    "abcd1234efgh5678",
    "6a3c8f9e-1b2c-4d5e",
    CONFIG_SECRET,
    *FEISHU,
]


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://api.telegram.org/bot{BOT_TOKEN}/getUpdates",
        f"token {BOT_TOKEN} rejected",
        f"Authorization: Bearer {JWT}",
        f"api_key={OPENAI_KEY}",
        f'{{"x-api-key": "{ANTHROPIC_KEY}"}}',
        f"tenant_access_token: {TENANT}",
        f"connecting to {WS_URL}",
        f"key file:\n{PEM}\n",
        f"the value is {CONFIG_SECRET} here",
        f'{{"app_id": "cli_a1b2c3", "app_secret": "{FEISHU_SECRET}"}}',
        f'POST /callback/ws/endpoint {{"AppID": "cli_a1b2c3", "AppSecret": "{FEISHU_SECRET}"}}',
        f'{{"code": 0, "tenant_access_token": "{TENANT}", "expire": 7200}}',
        f"Authorization: Bearer {TENANT}",
        f"app_access_token={APP_TOKEN}",
        f"card update token {CARD_TOKEN} expires in 30 minutes",
        f'{{"header": {{"event_id": "5e37", "token": "{EVENT_TOKEN}"}}}}',
        f"encrypt_key: {FEISHU_SECRET}",
    ],
)
def test_secret_shapes_are_masked_in_text(text):
    out = Redactor([CONFIG_SECRET]).text(text)
    assert MASK in out
    for secret in ALL:
        assert secret not in out, (secret, out)


def test_values_under_secret_keys_are_masked_whole():
    data = {
        "app_secret": "short1",
        "bot_token": "anything",
        "Authorization": "Basic dXNlcjpwYXNz",
        "prompt_tokens": 120,
        "nested": [{"password": "hunter2hunter2"}],
        "AppSecret": "short2",
        "encrypt_key": "k",
        "TenantAccessToken": "t-1",
        "text": "nothing secret",
    }
    out = Redactor().mapping(data)
    assert out["app_secret"] == out["bot_token"] == out["Authorization"] == MASK
    assert out["nested"][0]["password"] == MASK
    assert out["AppSecret"] == out["encrypt_key"] == out["TenantAccessToken"] == MASK
    assert out["prompt_tokens"] == 120 and out["text"] == "nothing secret"


def test_ordinary_text_is_untouched():
    text = "disk / is 71% full; load 0.31 0.25; user 12345 asked at 10:45:00"
    assert Redactor().text(text) == text


def test_the_whole_logging_pipeline_redacts(monkeypatch):
    stream = io.StringIO()
    redactor = Redactor([CONFIG_SECRET])
    setup_logging(level="debug", fmt="json", redactor=redactor, stream=stream, cache=False)
    try:
        log = structlog.get_logger("test")
        log.info(
            "model.request",
            url=f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage",
            headers={"Authorization": f"Bearer {JWT}"},
            api_key=OPENAI_KEY,
        )
        log.warning("feishu.connect", url=WS_URL, tenant_access_token=TENANT)
        logging.getLogger("aiohttp.client").warning(
            "request to %s failed", f"/bot{BOT_TOKEN}/getMe"
        )
        logging.getLogger("Lark").error("[Lark] connected to %s", WS_URL)
        logging.getLogger("Lark").warning(
            "receive message, payload: %s", json.dumps({"header": {"token": EVENT_TOKEN}})
        )
        log.info("feishu.card", action={"token": CARD_TOKEN, "operator": {"app_id": "x"}})
        try:
            raise RuntimeError(f"ssh key could not be parsed: {PEM} with {CONFIG_SECRET}")
        except RuntimeError:
            log.exception("ssh.failed", detail=ANTHROPIC_KEY)
    finally:
        configure_test_logging()
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["event"] for line in lines][:2] == ["model.request", "feishu.connect"]
    assert len(lines) == 7
    for secret in ALL:
        assert secret not in output, secret
    assert "exception" in lines[-1]  # the traceback is there, without the secrets
    assert "locals" not in output


# --- command output: what servers print ---------------------------------------------------

OUTPUT_SECRETS = {
    "github": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_pat": "github_pat_" + "11ABCDEFG0" * 6,
    "gitlab": "glpat-" + "x1Y2z3A4b5C6d7E8f9G0",
    "slack": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "hf": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "stripe": "sk_live_" + "51HxyzAbCdEfGhIjKlMnOp",
    "google": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
}


@pytest.mark.parametrize("name", sorted(OUTPUT_SECRETS))
def test_known_token_shapes_in_output(name):
    secret = OUTPUT_SECRETS[name]
    text = f"line before\nconfig: {secret}\nline after"
    masked = Redactor().text(text)
    assert secret not in masked and "line before" in masked and "line after" in masked


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("OPENAI_API_KEY=sk-abc", "OPENAI_API_KEY="),
        ("DB_PASSWORD='two words'", "DB_PASSWORD="),
        ('Environment="AWS_SECRET_ACCESS_KEY=abc/def+ghi"', "AWS_SECRET_ACCESS_KEY="),
        ("export GITHUB_TOKEN=abc123", "GITHUB_TOKEN="),
        ("MYSQL_PWD=hunter22 HOME=/root", "HOME=/root"),
        ("REDIS_AUTH=abcdef", "REDIS_AUTH="),
        ("SENTRY_DSN=https://k@o.ingest.io/1", "SENTRY_DSN="),
        ("KEY=val", "KEY="),
        ("postgres://app:s3cr3t-pw@db:5432/x", "postgres://app:"),
        ("https://user:pa55word@example.com/x", "@example.com/x"),
    ],
)
def test_secret_looking_assignments_and_url_passwords(line, kept):
    masked = Redactor().text(line)
    assert kept in masked
    for secret in ("sk-abc", "two words", "abc/def+ghi", "abc123", "hunter22", "abcdef",
                   "k@o.ingest", "val", "s3cr3t-pw", "pa55word"):  # fmt: skip
        if secret in line and secret not in kept:
            assert secret not in masked, (line, masked)


def test_process_environments_lose_their_secrets_but_keep_the_rest():
    environ = "PATH=/usr/bin\0HOME=/root\0OPENAI_API_KEY=sk-proj-zzzzzzzzzzzzzzzzzzzz\0LANG=C"
    masked = Redactor().text(environ.replace("\0", " "))
    assert "PATH=/usr/bin" in masked and "LANG=C" in masked and "sk-proj" not in masked


@given(
    name=st.from_regex(
        r"[A-Z]{0,6}_?(KEY|TOKEN|SECRET|PASSWORD|PASS|PWD|AUTH)(_[A-Z]{1,5})?", fullmatch=True
    ),
    value=st.from_regex(r"[A-Za-z0-9/+_.-]{1,40}", fullmatch=True),
)
def test_any_secret_named_variable_loses_its_value(name, value):
    masked = Redactor().text(f"{name}={value}\n")
    assert masked == f"{name}={MASK}\n"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("define('DB_PASSWORD', 'hunter2x');", "hunter2x"),
        ("mysql -u root -pS3cretPw db", "S3cretPw"),
        ("sshpass -p S3cretPw ssh host", "S3cretPw"),
        ("redis-cli -h cache -a S3cretPw ping", "S3cretPw"),
        ("curl -u bob:S3cretPw https://x", "S3cretPw"),
        ("mysqldump --password=S3cretPw db", "S3cretPw"),
        ("Authorization: Token abcdef123456", "abcdef123456"),
        ("Authorization: Digest username=x", "username=x"),
        ("X-Auth-Token: abcdef123456", "abcdef123456"),
        ("    token: kubetokenvalue123", "kubetokenvalue123"),
        ("    client-key-data: LS0tLS1CRUdJTi", "LS0tLS1CRUdJTi"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
        ("redis://:pw12345@cache:6379/0", "pw12345"),
        ("postgres://app:pa/ss@db/x", "pa/ss"),
        ("secret_key_base: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ('"password": "a b c"', "a b c"),
        ("passphrase=correct-horse", "correct-horse"),
        ("root:$6$saltsalt$hashhashhashhash:19000:0:99999:7:::", "hashhashhashhash"),
        ("npm_" + "a1B2" * 9, "a1B2a1B2"),
        ("dop_v1_" + "ab" * 32, "abababab"),
        ("SG." + "a" * 22 + "." + "b" * 43, "aaaaaaaaaa"),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
            "lQOYBF0",
        ),
        ("key body:\n" + ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA" + "\n") * 3, "b3Blbn"),
    ],
)
def test_secrets_in_command_output_formats(text, secret):
    assert secret not in Redactor().text(text)


def test_redaction_is_linear_on_hostile_output():
    import time

    for hostile in ("KEY" * 6000, "KEY=" * 4000, "A" * 16000 + "\n", "x-" * 8000, "$1$" * 5000):
        started = time.perf_counter()
        Redactor().text(hostile)
        assert time.perf_counter() - started < 0.5, hostile[:20]
