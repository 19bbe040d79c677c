"""Pictures and files out on WhatsApp: uploaded to /PHONE_NUMBER_ID/media, then image and
document messages (the text their caption when it fits), within the 24-hour window; through
the real daemon and the fake Cloud API."""

from __future__ import annotations

import aiohttp

from assistant.core.messages import ChatRef, OutFile
from tests.fakes.model import FakeModel
from tests.fakes.whatsapp import FakeWhatsApp
from tests.helpers import png_bytes
from tests.integration.whatsapp_support import OWNER, run_daemon, whatsapp, whatsapp_config

__all__ = ["run_daemon", "whatsapp"]  # fixtures

NEVER_WROTE = "4930111222333"


async def test_files_are_uploaded_and_sent_within_the_window(
    tmp_path, fake_model: FakeModel, whatsapp: FakeWhatsApp, run_daemon
):
    running = await run_daemon(whatsapp_config(tmp_path, fake_model, whatsapp))
    async with aiohttp.ClientSession() as http:  # the owner wrote: the window is open
        await whatsapp.post_webhook(
            http, running.url, whatsapp.delivery(whatsapp.text(OWNER, "hi"))
        )
    await whatsapp.wait_sent(1)
    files = (
        OutFile("anim.gif", b"GIF89a" + b"\0" * 10, "image/gif", "image"),  # not taken
        OutFile("hosts.csv", b"host,cpu\nweb1,93\n", "text/csv"),
        OutFile("chart.png", png_bytes(4, 3), "image/png", "image"),
    )
    router = running.daemon.services.router
    await router.notify(ChatRef("whatsapp", OWNER), "Weekly *report*", files=files)
    sent = whatsapp.sent[1:]
    assert [m.type for m in sent] == ["text", "document", "image"]
    assert sent[0].text == "📎 anim.gif (16 B) could not be sent: WhatsApp refused it."
    document = whatsapp.uploads[sent[1].payload["document"]["id"]]
    assert sent[1].payload["document"]["filename"] == "hosts.csv"
    assert (document.mime_type, document.data) == ("text/plain", files[1].data)
    image = whatsapp.uploads[sent[2].payload["image"]["id"]]
    assert image.data == files[2].data and sent[2].text == "Weekly *report*"  # the caption

    # outside the window nothing free-form goes, files neither (no template configured)
    assert await router.notify(ChatRef("whatsapp", NEVER_WROTE), "late", files=files[1:]) == []
    assert len(whatsapp.sent) == 4
