"""The web console in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
driven by Selenium): log in with the token, chat with a streamed reply and an attached file, approve a command
that then runs on the test sshd (and probe that host), reject a pairing, pause and cancel a job, forget
a memory. One daemon and one browser for the module; a screenshot of every page at desktop and phone width is saved to
``$ASSISTANT_TEST_ARTIFACTS/console`` (default ``test-artifacts/console`` in the checkout,
ignored by git)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from assistant.core.roles import Role
from assistant.store.console import ConsoleTokens
from tests.fakes import sshd as fake_sshd
from tests.fakes.model import FakeModel, Reply
from tests.integration.test_console_api import ENV, OWNER_TOKEN, base, bearer, start_daemon
from tests.integration.test_daemon import write_config

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
_missing = [str(p) for p in (CHROMIUM, DRIVER) if not p.exists()]
pytestmark = [
    pytest.mark.skipif(
        bool(_missing),
        reason=f"no {', '.join(_missing)}: apt-get install chromium chromium-driver (.ci/run does)",
    ),
    pytest.mark.skipif(fake_sshd.available() is not None, reason=str(fake_sshd.available())),
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.slow,  # a browser: -m "not slow" leaves it out of the quick loop
]
DESKTOP, PHONE = (1280, 860), (390, 844)
ARTIFACTS = (
    Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS") or Path(__file__).parents[2] / "test-artifacts")
    / "console"
)
STREAMED = "Here is a longer answer, written a few characters at a time so the page shows it grow."


async def call(daemon, token: str, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession(headers=bearer(token)) as http,
        http.request(method, base(daemon) + path, json=body) as r,
    ):
        assert r.status < 300, await r.text()
        return await r.json()


class Browser:
    """A Chromium session; every call runs in a thread so the daemon's loop keeps serving."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
            options.add_argument(arg)
        options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
        self.driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
        self.url = ""

    async def run(self, f: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(f, *args)

    def wait(self, condition: Callable[[Any], Any], timeout: float = 15) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,),  # a page that re-drew
        ).until(condition)

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector: str) -> str:
        """The visible text of everything ``selector`` matches (read at once: pages re-draw)."""
        return str(
            self.driver.execute_script(
                "return Array.from(document.querySelectorAll(arguments[0]))"
                ".map((e) => e.innerText).join(' ')",
                selector,
            )
        )

    def click(self, selector: str, index: int = 0) -> None:
        """Click the ``index``-th match as it is now (a page may re-draw between two calls)."""
        self.driver.execute_script(
            "document.querySelectorAll(arguments[0])[arguments[1]].click()", selector, index
        )

    def page(self, name: str, ready: str) -> None:
        """Open a page from the navigation and wait until ``ready`` (a selector) shows."""
        self.css(f'#nav a[data-page="{name}"]').click()
        self.wait(lambda d: self.all(f"#page-{name} {ready}"))

    def log_in(self, url: str, token: str) -> None:
        """Be logged in (each test may run alone: ``-k``)."""
        if not self.driver.current_url.startswith(url):
            self.driver.get(url + "/console")
        self.wait(lambda d: self.css("#login").is_displayed() or self.css("#nav").is_displayed())
        if self.css("#login").is_displayed():
            self.css("#token").send_keys(token + "\n")
            self.wait(lambda d: self.css("#nav").is_displayed())

    def shoot(self, name: str) -> None:
        """Screenshots of what is on screen now at desktop and phone width."""
        for label, (w, h) in (("desktop", DESKTOP), ("phone", PHONE)):
            self.driver.set_window_size(w, h)
            self.driver.execute_script("return document.body.offsetHeight")  # lay out
            self.driver.save_screenshot(str(ARTIFACTS / f"{name}-{label}.png"))
        self.driver.set_window_size(*DESKTOP)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser(request):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    b = Browser()
    yield b
    b.quit()
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # past the output capture: where to look
        print(f"\nconsole screenshots: {ARTIFACTS}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def model():
    fake = await FakeModel().start()
    yield fake
    await fake.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory, model, sshd, embedder):
    root = tmp_path_factory.mktemp("browser")
    known_hosts = root / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")
    path = write_config(
        root / "config.toml",
        root / "state",
        model.base_url,
        console={"token": "${ASSISTANT_CONSOLE_TOKEN:-}"},
        scheduler={"enabled": True},
        memory={"enabled": True},
        ssh={
            "known_hosts": str(known_hosts),
            "user": sshd.user,
            "key_file": str(sshd.user_key),
            "hosts": [{"name": "box", "address": "127.0.0.1", "port": sshd.port}],
        },
    )
    d, task = await start_daemon(path, ENV, options={"embedder": embedder})
    yield d
    d.stop()
    assert await task == 0


async def test_log_in_and_chat_with_a_streamed_reply(daemon, model, browser):
    b = browser
    await b.run(b.driver.get, base(daemon) + "/console")
    await b.run(b.wait, lambda d: b.css("#login").is_displayed())
    await b.run(b.shoot, "login")
    await b.run(lambda: b.css("#token").send_keys("wrong-token\n"))
    await b.run(b.wait, lambda d: "wrong" in b.text("#login-error"))
    await b.run(lambda: b.css("#token").send_keys(OWNER_TOKEN + "\n"))
    await b.run(b.wait, lambda d: b.css("#nav").is_displayed())
    assert await b.run(b.text, "#who") == "local (owner)"
    # record every text the reply shows: a streamed reply grows before it is final
    await b.run(
        b.driver.execute_script,
        "window.__seen = [];"
        "new MutationObserver(() => { for (const li of document.querySelectorAll("
        "'#messages li:not(.mine)')) window.__seen.push(li.textContent); })"
        ".observe(document.getElementById('messages'),"
        " {childList: true, subtree: true, characterData: true});",
    )
    model.script.append(Reply(text=STREAMED, chunk=4, pause=0.06))
    await b.run(lambda: b.css("#text").send_keys("tell me something long\n"))
    await b.run(b.wait, lambda d: STREAMED in b.text("#messages li:not(.mine)"))
    assert "tell me something long" in await b.run(b.text, "#messages li.mine")
    seen = await b.run(b.driver.execute_script, "return window.__seen")
    partial = [s for s in seen if s and s != STREAMED]
    assert partial and all(STREAMED.startswith(p.rstrip("▌… ")[:20]) for p in partial)
    # a file attached in the page reaches the model through the inbound attachment path
    notes = ARTIFACTS.parent / "notes.txt"
    notes.write_text("the shared word is pineapple")
    await b.run(b.driver.execute_script, "document.getElementById('file').hidden = false")
    await b.run(lambda: b.css("#file").send_keys(str(notes)))
    await b.run(b.driver.execute_script, "document.getElementById('file').hidden = true")
    await b.run(b.wait, lambda d: "notes.txt" in b.text("#chips"))
    await b.run(lambda: b.css("#text").send_keys("what does the file say?\n"))
    await b.run(b.wait, lambda d: "pineapple" in b.text("#messages li:not(.mine)"))
    assert "notes.txt" in await b.run(b.text, "#messages li.mine .file")
    await b.run(lambda: b.css("#text").send_keys("/status\n"))
    await b.run(b.wait, lambda d: "up" in b.text("#messages li:not(.mine)"))
    await b.run(b.shoot, "chat")


async def test_approve_a_pending_command_and_it_runs_on_the_host(daemon, model, browser):
    b = browser
    await b.run(b.log_in, base(daemon), OWNER_TOKEN)
    marker = Path(f"/tmp/assistant-console-{uuid.uuid4().hex}")
    command = f"touch {marker} && echo made"
    model.script.extend(
        [
            Reply(tool_calls=[("run_command", {"host": "box", "command": command})]),
            Reply(text="Created the marker file."),
        ]
    )
    ann = await ConsoleTokens(daemon.services.db).create("ann", Role.ADMIN, by="test")
    await call(daemon, ann, "POST", "/api/messages", {"text": "make it"})
    await b.run(b.page, "approvals", "article.approval")
    card = await b.run(b.text, "article.approval")
    assert command in card and "box" in card and "ann" in card
    assert not await b.run(lambda: b.css("article.approval input.code").is_displayed())  # no TOTP
    assert not marker.exists()  # nothing runs before the approval
    await b.run(b.shoot, "approvals")
    await b.run(b.click, "article.approval .actions button:not(.danger)")
    async with asyncio.timeout(20):
        while not marker.exists():
            await asyncio.sleep(0.05)
    marker.unlink()
    await daemon.services.router.wait_idle("console:ann")
    events = (await call(daemon, ann, "GET", "/api/messages"))["events"]
    said = [e.get("text", "") for e in events]
    assert "Created the marker file." in said
    await b.run(b.wait, lambda d: not b.all("article.approval"))
    # the host it ran on: its pinned key, and it answers when probed
    await b.run(b.page, "hosts", 'article[data-host="box"]')
    assert "ssh-ed25519 SHA256:" in await b.run(b.text, 'article[data-host="box"] .pins')
    await b.run(b.click, '[data-probe="box"]')
    await b.run(b.wait, lambda d: "reachable (" in b.text('article[data-host="box"]'))
    await b.run(b.shoot, "hosts")
    # the decision is in the owner's chat and the audit
    await b.run(b.page, "chat", "#messages li")
    await b.run(b.wait, lambda d: "Approved" in b.text("#messages li"))
    await b.run(b.page, "audit", "table")
    await b.run(lambda: b.css("#page-audit input[type=search]").send_keys("approval.\n"))
    await b.run(b.wait, lambda d: "approval.decided" in b.text("#page-audit tbody"))
    await b.run(b.click, "#page-audit .heading button")
    await b.run(b.wait, lambda d: "chain intact" in b.text("#page-audit .verify"))
    await b.run(b.shoot, "audit")


async def test_reject_a_pairing_cancel_a_job_forget_a_memory(daemon, browser):
    b = browser
    await b.run(b.log_in, base(daemon), OWNER_TOKEN)
    await ConsoleTokens(daemon.services.db).create("dora", Role.ADMIN, by="test")
    request, _ = await daemon.services.pairing.request(
        "telegram", "555", name="Mallory", chat_id="555"
    )
    await b.run(b.page, "people", "table")
    await b.run(b.wait, lambda d: request.code in b.text("#page-people"))
    assert "dora" in await b.run(b.text, "#page-people")  # her token is listed
    await b.run(b.shoot, "people")
    await b.run(b.click, "#page-people tbody tr button.danger")
    await b.run(b.wait, lambda d: request.code not in b.text("#page-people"))
    assert await daemon.services.pairing.pending() == []
    await call(daemon, OWNER_TOKEN, "POST", "/api/messages", {"text": "/remind 2h stretch"})
    await daemon.services.router.wait_idle("console:local")
    await b.run(b.page, "jobs", "[data-cancel]")
    assert "stretch" in await b.run(b.text, "#page-jobs tbody")
    await b.run(b.click, "#page-jobs [data-pause]")
    await b.run(b.wait, lambda d: "paused" in b.text("#page-jobs tbody .badge"))
    await b.run(b.shoot, "jobs")
    await b.run(b.click, "#page-jobs [data-cancel]")
    await b.run(b.wait, lambda d: b.all("#page-jobs p.empty"))
    for text in ("the backup disk is in rack 3", "ann prefers short answers"):
        await call(daemon, OWNER_TOKEN, "POST", "/api/messages", {"text": f"/remember {text}"})
    await daemon.services.router.wait_idle("console:local")
    await b.run(b.page, "memory", "[data-forget]")
    assert "rack 3" in await b.run(b.text, "#page-memory tbody")
    await b.run(b.shoot, "memory")
    await b.run(b.click, "#page-memory [data-forget]")
    await b.run(b.wait, lambda d: len(b.all("#page-memory [data-forget]")) == 1)
    # an hour of made-up history, so the screenshot shows the charts drawn
    board = next(f for f in daemon.assembly.features if f.name == "console").parts["console_board"]
    start, totals = board.samples[0], dict.fromkeys(board.samples[0], 0.0)
    board.samples.clear()
    for minute in range(60):
        busy = 1 + (minute * 7) % 5
        for key, step in (("received", busy), ("answered", busy), ("turns", busy)):
            totals[key] += step
        totals["turn_seconds"] += busy * (1.2 + (minute % 9) / 10)
        totals["tokens"] += busy * 180
        totals["model_errors"] += 1 if minute % 17 == 0 else 0
        board.samples.append({**totals, "at": start["at"] - (60 - minute) * 60})
    await b.run(b.page, "system", ".tiles svg.chart polyline")
    assert "router" in await b.run(b.text, "#page-system table")
    await b.run(b.click, "#page-system [data-doctor]")
    await b.run(b.wait, lambda d: "config" in b.text("#page-system .doctor tbody"), 30)
    await b.run(b.shoot, "system")


async def test_a_user_sees_only_chat_jobs_and_memory(daemon, browser):
    b = browser
    bob = await ConsoleTokens(daemon.services.db).create("bob", Role.USER, by="test")
    await b.run(b.log_in, base(daemon), OWNER_TOKEN)
    await b.run(b.click, "#logout")
    await b.run(b.wait, lambda d: b.css("#login").is_displayed())
    await b.run(lambda: b.css("#token").send_keys(bob + "\n"))
    await b.run(b.wait, lambda d: b.css("#nav").is_displayed())
    shown = await b.run(
        b.driver.execute_script,
        "return Array.from(document.querySelectorAll('#nav a'))"
        ".filter((a) => !a.hidden).map((a) => a.dataset.page)",
    )
    assert shown == ["chat", "jobs", "memory"]
    await b.run(b.driver.execute_script, "location.hash = '#people'")  # typed by hand
    await b.run(b.wait, lambda d: b.css("#page-chat").is_displayed())  # back to what it may
    assert "(user)" in await b.run(b.text, "#who")
    await b.run(b.shoot, "user-chat")
