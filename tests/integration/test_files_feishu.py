"""Pictures and files out on Feishu: uploaded (im/v1/images, im/v1/files) and sent as image
and file messages before the text, through the real daemon and the fake Open API."""

from __future__ import annotations

from assistant.core.messages import ChatRef, OutFile
from tests.fakes.feishu import FakeFeishu
from tests.fakes.model import FakeModel
from tests.helpers import png_bytes
from tests.integration.feishu_support import OWNER_CHAT, feishu, feishu_config, run_daemon

__all__ = ["feishu", "run_daemon"]  # fixtures


async def test_pictures_and_files_are_uploaded_then_sent_before_the_text(
    tmp_path, fake_model: FakeModel, feishu: FakeFeishu, run_daemon
):
    running = await run_daemon(feishu_config(tmp_path, fake_model, feishu))
    big = png_bytes(4, 4) + b"\0" * (10 * 1024 * 1024)  # past a picture's 10 MB: as a file
    files = (
        OutFile("chart.png", png_bytes(4, 3), "image/png", "image"),
        OutFile("hosts.csv", b"host,cpu\nweb1,93\n", "text/csv"),
        OutFile("empty.txt", b"", "text/plain"),  # Feishu refuses an empty file
        OutFile("huge.png", big, "image/png", "image"),
    )
    chat = ChatRef("feishu", OWNER_CHAT)
    await running.daemon.services.router.notify(chat, "Weekly report", files=files, plain=True)
    sent = [s for s in feishu.sent if s.chat_id == OWNER_CHAT]
    assert [s.msg_type for s in sent] == ["image", "file", "text", "file", "text"]
    uploads = [feishu.upload_of(s) for s in sent]
    assert uploads[0] is not None and uploads[0].data == files[0].data
    assert uploads[1] is not None and (uploads[1].name, uploads[1].file_type) == (
        "hosts.csv",
        "stream",
    )
    assert sent[2].text == "📎 empty.txt (0 B) could not be sent: Feishu refused it."
    assert uploads[3] is not None and uploads[3].name == "huge.png" and uploads[3].data == big
    assert sent[4].text == "Weekly report"
