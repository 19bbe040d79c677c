"""The secrets file, read the way systemd's EnvironmentFile= reads it."""

from __future__ import annotations

from assistant.ops.envfile import env_file_path, parse_env_file, with_env_file


def test_parse_like_systemd():
    text = (
        "# a comment\n; another\n\n"
        "PLAIN=value:with/chars=and-more\n"
        "  SPACED = not a valid line\n"
        "EMPTY=\n"
        "SINGLE='it is $HOME'\n"
        'DOUBLE="say \\"hi\\" \\\\ bye"\n'
        "export NOPE=1\n"
        "LAST=1\nLAST=2\n"
    )
    assert parse_env_file(text) == {
        "PLAIN": "value:with/chars=and-more",
        "EMPTY": "",
        "SINGLE": "it is $HOME",
        "DOUBLE": 'say "hi" \\ bye',
        "LAST": "2",
    }


def test_environment_wins_and_the_file_fills_the_gaps(tmp_path):
    env_file = tmp_path / "assistant.env"
    env_file.write_text("TOKEN=from-file\nKEY=from-file\n")
    env = with_env_file({"ASSISTANT_ENV_FILE": str(env_file), "TOKEN": "from-env"})
    assert env["TOKEN"] == "from-env" and env["KEY"] == "from-file"


def test_missing_or_disabled_file_changes_nothing(tmp_path):
    base = {"ASSISTANT_ENV_FILE": str(tmp_path / "absent.env"), "A": "1"}
    assert with_env_file(base) == base
    assert env_file_path({"ASSISTANT_ENV_FILE": ""}) is None
    assert with_env_file({"ASSISTANT_ENV_FILE": ""}) == {"ASSISTANT_ENV_FILE": ""}
    assert str(env_file_path({})) == "/etc/assistant/assistant.env"
