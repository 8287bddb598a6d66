"""The console in a real browser: Playwright drives Debian's headless Chromium against the app served by uvicorn
on a free loopback port. Screenshots go to test-output/screenshots/ (look at them: Chinese must render)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from console import users
from pipelines.cases.store import CaseStore
from pipelines.settings import Settings
from tests.console.conftest import PASSWORD, ROLES, add_lead

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
SMALL, LARGE = "XS2025-000001", "XS2025-000002"
SMALL_INVESTORS, LARGE_INVESTORS = 12, 1998  # the large lead has 2,000 accounts with hub and collector

if not Path(CHROMIUM).exists():
    pytest.fail(f"{CHROMIUM} missing: run console/setup_browser.sh", pytrace=False)


@pytest.fixture(autouse=True)
def cheap_password_hashing():
    """Passwords here are hashed at production cost: module-scoped users outlive the cheap per-test hasher."""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base url, facts of the published leads) for a console running in a background thread."""
    import uvicorn

    from console.app import create_app

    settings = Settings.load(tmp_path_factory.mktemp("console") / "home")
    settings.ensure_folders()
    store = CaseStore.open(settings)
    for role in ROLES:
        users.add_user(store, role, role, PASSWORD)
    facts = {
        SMALL: add_lead(
            store,
            SMALL,
            SMALL_INVESTORS,
            investor_name="<b>参与人</b>",
            province_stats={
                "by_province": [
                    {"province": "33", "participants": 9, "amount": "90063"},
                    {"province": "36", "participants": 2, "amount": "20015"},
                    {"province": "34", "participants": 1, "amount": "10010"},
                ]
            },
        ),
        LARGE: add_lead(store, LARGE, LARGE_INVESTORS, hub_name="某某农业专业合作社", score=0.7),
    }
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", facts
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.problems = problems
    yield opened
    context.close()


def log_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def wait_for_graph(page) -> None:
    page.wait_for_selector('#graph[data-ready="1"]', state="attached", timeout=30_000)


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JS expression (page.wait_for_function evaluates strings, which the console's CSP forbids).
    While a click's navigation is still under way the old document may be gone and the new one not yet
    built (no body, or the context destroyed): that counts as not yet, not as a failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"):
                return
        except PlaywrightError as error:
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def test_queue_lead_graph_and_move(page, served):
    base, facts = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, base, "analyst")
    queue_text = page.inner_text("#queue")
    assert SMALL in queue_text and LARGE in queue_text
    assert "新线索" in queue_text and "参与人数" in queue_text
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)

    page.click(f"text={SMALL}")
    wait_for_graph(page)
    # Every account of the lead is a node, plus one for the cash withdrawn.
    assert page.evaluate("window.cy.nodes().length") == len(facts[SMALL]["accounts"]) + 1
    assert page.evaluate("window.cy.edges().length") > 0
    # HTML in account names is shown as text, never parsed.
    assert page.locator("#payments b").count() == 0
    assert "<b>参与人</b>0" in page.inner_text("#payments")

    # Click the hub: its totals and transactions appear beside the graph.
    page.evaluate("() => { window.cy.nodes('[role = \"hub\"]').emit('tap'); }")
    page.wait_for_selector("#node-detail table")
    detail = page.inner_text("#node-detail")
    assert "金华某某养老服务有限公司" in detail and "622202*********0018" in detail
    page.screenshot(path=str(SCREENSHOTS / "lead.png"), full_page=True)

    # The transactions table sorts on the server: by amount, largest first, after two clicks.
    page.click("a.tx-sort[data-key=amount]")
    page.click("a.tx-sort[data-key=amount]")
    wait_for_graph(page)
    assert "¥500,000.00" in page.locator("#payments tr").nth(1).inner_text()
    page.locator("#transactions").screenshot(path=str(SCREENSHOTS / "lead-transactions.png"))

    # Time range: only March's payments leave fewer nodes.
    page.fill("#range-from", "2025-03-01")
    page.fill("#range-to", "2025-03-05")
    page.click("#range-apply")
    wait_until(page, "document.getElementById('graph').dataset.ready === '1' && window.cy.nodes().length < 10")

    # Assign (NEW → 初核), then move to 会商研判 with a note; both land in the event history.
    page.select_option("select[name=assignee]", "analyst")
    page.fill("form[action$='/assign'] textarea[name=note]", "分配给本人初核")
    page.click("form[action$='/assign'] button[type=submit]")
    page.wait_for_selector("text=已分配给 analyst")
    assert page.inner_text("#lead-status") == "初核"
    page.select_option("#move-status", "CONSULTATION")
    page.fill("#move-note", "初核发现多名老年人转入，提请会商")
    page.click("#move-form button[type=submit]")
    page.wait_for_selector("text=已转为「会商研判」")
    assert page.inner_text("#lead-status") == "会商研判"
    events = page.inner_text("#events")
    assert "初核发现多名老年人转入，提请会商" in events and "初核 → 会商研判" in events

    # An illegal move is refused with the allowed ones named.
    page.evaluate("""() => { const o = document.createElement('option'); o.value = 'CLOSED'; o.textContent = 'x';
                              document.getElementById('move-status').appendChild(o); }""")
    page.select_option("#move-status", "CLOSED")
    page.fill("#move-note", "直接销号")
    page.click("#move-form button[type=submit]")
    refusal = page.inner_text(".flash.error")
    assert "不能从「会商研判」转为「已销号」" in refusal and "DETERMINED_ILLEGAL" in refusal
    assert not [p for p in page.problems if "Content Security Policy" in p or "Refused" in p], page.problems


def test_large_lead_opens_grouped_and_expands(page, served, capsys):
    base, facts = served
    log_in(page, base, "reviewer")
    page.goto(f"{base}/leads/{LARGE}")
    wait_for_graph(page)
    opened_ms = page.evaluate("window.graphReadyMs")
    # Hub, collector, the folded participants and the cash: readable at 2,000 accounts.
    assert page.evaluate("window.cy.nodes().length") == 4
    assert page.evaluate("window.cy.nodes('.grouped').length") == 1
    page.screenshot(path=str(SCREENSHOTS / "lead-2000-grouped.png"))

    page.evaluate("() => { window.cy.nodes('.grouped').emit('tap'); }")
    page.click("text=展开全部参与人")
    wait_until(
        page,
        f"window.cy.nodes().length === {len(facts[LARGE]['accounts']) + 1}"
        " && document.getElementById('graph').dataset.ready === '1'",
        timeout=60,
    )
    expanded_ms = page.evaluate("window.graphDrawMs")
    page.screenshot(path=str(SCREENSHOTS / "lead-2000-expanded.png"))
    figure = (
        f"2,000-account lead: page open to graph drawn {opened_ms:.0f} ms (participants grouped); "
        f"expanded to {len(facts[LARGE]['accounts']) + 1} nodes drawn in {expanded_ms:.0f} ms"
    )
    (SCREENSHOTS.parent / "console-benchmark.txt").write_text(figure + "\n")
    with capsys.disabled():
        print(f"\n[benchmark] {figure}")


def test_a_day_of_casework_search_views_note_and_edge_click(page, served, tmp_path):
    """One logged-in reviewer: takes a lead, clicks an edge for its payments, adds a note with a file (event log),
    sees the lead under 我的线索 and not under 待我确认销号, and finds the shared account in both leads by search."""
    from tests.console.conftest import COLLECTOR

    base, _facts = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, base, "reviewer")
    page.goto(f"{base}/leads/{SMALL}")
    wait_for_graph(page)
    page.select_option("select[name=assignee]", "reviewer")
    page.fill("form[action$='/assign'] textarea[name=note]", "复核员接手")
    page.click("form[action$='/assign'] button[type=submit]")
    page.wait_for_selector("text=已分配给 reviewer")
    wait_for_graph(page)
    page.evaluate("() => { window.cy.edges()[0].emit('tap'); }")
    page.wait_for_selector("#edge-payments")
    assert "资金边明细" in page.inner_text("#node-detail") and page.locator("#edge-payments tr").count() > 1
    page.screenshot(path=str(SCREENSHOTS / "lead-edge-click.png"), full_page=False)
    attachment = tmp_path / "核查记录.txt"
    attachment.write_text("银行流水已调取", encoding="utf-8")
    page.fill("#note-text", "已调取银行流水，见附件")
    page.set_input_files("#note-files", str(attachment))
    page.click("#note-form button[type=submit]")
    page.wait_for_selector("text=备注已保存")
    assert "核查记录.txt" in page.inner_text("#notes")
    assert "已调取银行流水，见附件" in page.inner_text("#events")
    page.locator("#notes").screenshot(path=str(SCREENSHOTS / "lead-notes.png"))

    page.goto(f"{base}/?view=mine")
    mine = page.inner_text("#queue")
    assert SMALL in mine and LARGE not in mine
    page.screenshot(path=str(SCREENSHOTS / "queue-mine.png"), full_page=True)
    page.goto(f"{base}/?view=confirm")
    assert "没有符合条件的线索" in page.inner_text("#queue")

    page.fill("#search-box", COLLECTOR)
    page.click("form.search button")
    page.wait_for_selector("#search-accounts")
    found = page.inner_text("#search-accounts")
    assert SMALL in found and LARGE in found and COLLECTOR not in found
    page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)
    assert not [p for p in page.problems if "Content Security Policy" in p or "Refused" in p], page.problems


def test_auditor_log_dashboard_and_admin_users(page, served, browser):
    """The auditor filters the audit log (chains verified) and sees the dashboard's charts drawn; the admin's
    users page lists every role. Screenshots: audit.png, dashboard.png, users.png."""
    base, _facts = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, base, "auditor")
    page.click("#nav-audit")
    page.wait_for_selector("#audit-log")
    page.select_option("#audit-filter select[name=action]", "login")
    page.select_option("#audit-filter select[name=user]", "auditor")
    page.click("#audit-filter button[type=submit]")
    page.wait_for_selector("#audit-count")
    assert "哈希链校验通过" in page.inner_text("#chains")
    rows = page.locator("#audit-log tr").all_inner_texts()[1:]
    assert rows and all("auditor" in row and "登录" in row for row in rows)
    page.screenshot(path=str(SCREENSHOTS / "audit.png"), full_page=True)

    page.click("#nav-dashboard")
    page.wait_for_url(f"{base}/dashboard")
    wait_until(page, "document.body.dataset.chartsReady === '1'")
    # A drawn canvas has coloured pixels; an empty one is all transparent.
    painted = page.evaluate(
        """() => { const c = document.getElementById('chart-status');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }"""
    )
    assert painted > 500 and "新线索" in page.inner_text("#table-status")
    assert "江西" in page.inner_text("#table-provinces")  # participants' provinces, from their ID numbers
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert not [p for p in page.problems if "Content Security Policy" in p or "Refused" in p], page.problems

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    admin = context.new_page()
    log_in(admin, base, "admin")
    admin.click("#nav-users")
    listed = admin.inner_text("#users")
    assert all(name in listed for name in ("analyst", "reviewer", "supervisor", "auditor")) and "停用" in listed
    admin.screenshot(path=str(SCREENSHOTS / "users.png"), full_page=True)
    context.close()
