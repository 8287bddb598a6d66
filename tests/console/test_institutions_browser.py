"""The 报告机构 page in headless Chromium: it draws, a header click sorts the table, and nothing is logged as an
error (the page's script obeys the console's CSP). Screenshot: test-output/screenshots/institutions.png."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from console import users
from pipelines.cases.store import CaseStore
from pipelines.settings import Settings
from tests.console.conftest import PASSWORD
from tests.console.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, log_in
from tests.console.test_institutions_page import snapshot

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def cheap_password_hashing():
    """The user is made before the per-test cheap hasher would apply; hash at production cost."""


@pytest.fixture
def served(tmp_path):
    import uvicorn

    from console.app import create_app

    settings = Settings.load(tmp_path / "home")
    settings.ensure_folders()
    store = CaseStore.open(settings)
    users.add_user(store, "analyst", "analyst", PASSWORD)
    snapshot(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    store.close()


def test_the_scorecard_page_draws_and_sorts(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN").new_page()
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        log_in(page, served, "analyst")
        page.click("text=报告机构")
        page.wait_for_url(f"{served}/institutions")
        first_column = "Array.from(document.querySelectorAll('#scorecard tbody tr')).map(r => r.cells[0].textContent)"
        assert page.evaluate(first_column) == ["C0001", "C0002"]
        page.click("#scorecard th[data-key=lines]")  # first click: largest first
        assert page.evaluate(first_column) == ["C0001", "C0002"]
        page.click("#scorecard th[data-key=lines]")  # again: smallest first
        assert page.evaluate(first_column) == ["C0002", "C0001"]
        assert page.locator("svg.bars").count() == 6
        assert "622202*********3456" in page.inner_text("body")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "institutions.png"), full_page=True)
        browser.close()
    assert problems == []
