"""Pairing by button on Telegram ([access] pairing_notify): the owner gets each new request with
Approve and Reject (the same note goes on Slack and WhatsApp: test_slack, test_whatsapp)."""

from __future__ import annotations

from tests.integration.test_telegram import (
    OWNER,
    STRANGER,
    USER,
    bot_api,
    run_daemon,
    telegram_config,
)

__all__ = ["bot_api", "run_daemon"]  # fixtures


async def test_an_owner_approves_a_stranger_with_a_button(
    tmp_path, fake_model, bot_api, run_daemon
):
    access = {
        "owners": [f"telegram:{OWNER}"],
        "telegram": {"users": {str(USER): "user"}},
        "pairing_notify": True,
    }
    await run_daemon(telegram_config(tmp_path, fake_model, bot_api, access=access))
    await bot_api.user_message(STRANGER, STRANGER, "hello?")
    await bot_api.wait_for(lambda: any(s.reply_markup for s in bot_api.sent))
    (note,) = [s for s in bot_api.sent if s.reply_markup]
    assert note.chat_id == OWNER and f"telegram {STRANGER}" in note.text
    approve, reject = note.reply_markup["inline_keyboard"][0]
    assert (approve["text"], reject["text"]) == ("Approve", "Reject")
    await bot_api.press(USER, USER, approve["callback_data"], note.message_id)  # not an admin
    await bot_api.wait_for(lambda: len(bot_api.callback_answers) == 1)
    assert "may not do this" in bot_api.callback_answers[0]["text"]
    await bot_api.press(OWNER, OWNER, approve["callback_data"], note.message_id)
    await bot_api.wait_for(lambda: note.text.startswith("Approved "))
    assert not note.reply_markup
    welcome = [s for s in bot_api.sent if s.chat_id == STRANGER][-1]
    assert welcome.text.startswith("You're in!")
    await bot_api.press(OWNER, OWNER, reject["callback_data"], note.message_id)  # too late
    await bot_api.wait_for(lambda: "No pending telegram pairing request" in note.text)
    await bot_api.user_message(STRANGER, STRANGER, "now?")
    await bot_api.wait_for(lambda: bot_api.sent[-1].text == "echo: now?")
