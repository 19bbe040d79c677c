"""Pictures and files out on Slack, as slack-sdk's files_upload_v2 sends them
(files.getUploadURLExternal, the bytes to the upload URL, files.completeUploadExternal), in
the thread the reply goes to; through the real daemon and the fake Slack."""

from __future__ import annotations

from assistant.core.messages import ChatRef, OutFile
from tests.fakes.model import FakeModel
from tests.fakes.slack import FakeSlack
from tests.helpers import png_bytes
from tests.integration.test_slack import GENERAL, OWNER, run_daemon, slack, slack_config

__all__ = ["run_daemon", "slack"]  # fixtures

THREAD = "1700000000.000100"


async def test_files_are_shared_in_the_thread_before_the_text(
    tmp_path, fake_model: FakeModel, slack: FakeSlack, run_daemon
):
    running = await run_daemon(slack_config(tmp_path, fake_model, slack))
    router = running.daemon.services.router
    files = (
        OutFile("chart.png", png_bytes(4, 3), "image/png", "image"),
        OutFile("hosts.csv", b"host,cpu\nweb1,93\n", "text/csv"),
    )
    chat = ChatRef("slack", GENERAL, is_group=True, thread_id=THREAD)
    await router.notify(chat, "Weekly report", files=files, plain=True)
    assert [(f.channel, f.name, f.thread_ts, f.data) for f in slack.shared] == [
        (GENERAL, "chart.png", THREAD, files[0].data),
        (GENERAL, "hosts.csv", THREAD, files[1].data),
    ]
    [posted] = slack.posted
    assert (posted.channel, posted.thread_ts, posted.text) == (GENERAL, THREAD, "Weekly report")

    # to a person: in their direct message channel with the bot
    await router.notify(ChatRef("slack", OWNER), "", files=files[1:], plain=True)
    assert (slack.shared[-1].channel, slack.shared[-1].name) == ("D" + OWNER[1:], "hosts.csv")

    # a file Slack refuses (here: the bot is not in the channel) becomes a line naming it
    slack.fail("files.completeUploadExternal", 200, "not_in_channel")
    await router.notify(ChatRef("slack", GENERAL), "", files=files[1:], plain=True)
    assert len(slack.shared) == 3
    assert slack.posted[-1].text == "📎 hosts.csv (17 B) could not be sent: Slack refused it."
