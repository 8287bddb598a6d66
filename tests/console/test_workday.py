"""A day of casework in the console: search across leads, queue views (mine, awaiting my confirmation, overdue),
paging, notes with attachments."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from console import views
from pipelines.cases import lifecycle
from pipelines.cases.store import audit
from tests.console.conftest import COLLECTOR, HUB, SUBJECT_ID, add_lead, investor_account

A, B, C = "XS2025-000001", "XS2025-000002", "XS2025-000003"


def lead_ids(html: str) -> list[str]:
    return re.findall(r'<a href="/leads/(XS[\d-]+)">', html)


def test_search_finds_an_account_in_two_leads_exactly_and_masked(store, client_for):
    add_lead(store, A, 3)
    add_lead(store, B, 3)
    client = client_for("analyst")
    html = client.get(f"/search?q={COLLECTOR}").text
    accounts = html.split('id="search-accounts"')[1].split("</table>")[0]
    assert lead_ids(accounts) == [A, B]
    results = html.split('id="search-q"')[1].split("</form>", 1)[1]  # the search form echoes the query
    assert COLLECTOR not in results and "622202*********0026" in accounts
    # a partial number finds nothing and says what to type
    partial = client.get(f"/search?q={COLLECTOR[:8]}").text
    assert "请输入完整号码" in partial and not lead_ids(partial.split("<main>")[1])
    # an ID number (the collector's holder) and a name part
    assert lead_ids(client.get(f"/search?q={SUBJECT_ID.lower()}").text.split("<main>")[1]) == [A, B]
    by_name = client.get("/search?q=养老服务").text
    assert lead_ids(by_name.split('id="search-leads"')[1].split("</table>")[0]) == [A, B]
    with store.read() as conn:
        searches = conn.execute(sa.select(audit.c.detail).where(audit.c.action == "search")).scalars().all()
    assert len(searches) == 3 and all(COLLECTOR not in str(s) and SUBJECT_ID not in str(s) for s in searches)


def test_account_panel_says_also_in_the_other_lead(store, client_for):
    add_lead(store, A, 3)
    add_lead(store, B, 3)
    client = client_for("analyst")
    hub = next(n for n in client.get(f"/api/leads/{A}/graph").json()["nodes"] if n["role"] == "hub")
    assert client.get(f"/api/leads/{A}/accounts/{hub['id']}").json()["also_in"] == [B]
    only_here = add_lead(store, C, 3)["accounts"][2]["account_no"]
    assert only_here == investor_account(0)
    node = views.node_key(client.app.state.secret, HUB)
    assert client.get(f"/api/leads/{C}/accounts/{node}").json()["also_in"] == [A, B]


def test_queue_views_mine_awaiting_confirmation_and_overdue(store, client_for):
    for lead in (A, B, C):
        add_lead(store, lead, 3)
    lifecycle.assign(store, A, "analyst", "analyst", "本人初核")
    lifecycle.assign(store, B, "analyst2", "reviewer", "交给 analyst2", due=date(2020, 1, 1))
    lifecycle.propose_close(store, A, "analyst", "无集资特征")
    analyst = client_for("analyst")
    assert lead_ids(analyst.get("/?view=mine").text) == [A]
    reviewer = client_for("reviewer")
    assert lead_ids(reviewer.get("/?view=confirm").text) == [A]
    assert lead_ids(analyst.get("/?view=confirm").text) == []  # the proposer cannot confirm their own
    assert lead_ids(reviewer.get("/?view=overdue").text) == [B]
    row = reviewer.get("/").text.split(f'href="/leads/{A}"')[1].split("</tr>")[0]
    assert "初核" in row and "待确认销号" in row


def test_queue_pages(store, client_for, monkeypatch):
    monkeypatch.setattr(views, "QUEUE_PAGE_ROWS", 2)
    for lead in (A, B, C):
        add_lead(store, lead, 2)
    client = client_for("analyst")
    first, second = client.get("/").text, client.get("/?page=2").text
    assert len(lead_ids(first)) == 2 and lead_ids(second) == [C] and "第 2 / 2 页" in second
    assert sorted(lead_ids(first) + lead_ids(second)) == [A, B, C]


def test_a_note_with_an_attachment_is_in_the_event_log_the_page_and_the_dossier(store, client_for, settings):
    import hashlib

    from console import notes

    add_lead(store, A, 3)
    lifecycle.assign(store, A, "analyst", "analyst", "初核")
    client = client_for("analyst")
    page = client.get(f"/leads/{A}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    hub_key = views.node_key(client.app.state.secret, HUB)
    content = b"%PDF-1.4 bank statement"
    saved = client.post(
        f"/leads/{A}/notes",
        data={"csrf_token": token, "text": "调取银行流水，见附件", "account": hub_key},
        files={"files": ("流水.pdf", content, "application/pdf")},
    )
    assert "备注已保存" in saved.text and "流水.pdf" in saved.text
    sha = hashlib.sha256(content).hexdigest()
    assert notes.path_of(settings, sha).read_bytes() == content
    [event] = [e for e in store.get_lead(A)["events"] if e["action"] == "note"]
    assert event["note"] == "调取银行流水，见附件" and event["detail"]["attachments"][0]["sha256"] == sha
    assert event["detail"]["account"] == "622202*********0018" and store.verify_events().ok
    link = re.search(rf'href="(/leads/{A}/attachments/\d+)"', saved.text).group(1)
    download = client.get(link)
    assert download.content == content and "attachment" in download.headers["content-disposition"]
    dossier = client.post("/exports/dossier", data={"csrf_token": token, "lead_id": A}).text
    assert "备注与附件" in dossier and "调取银行流水，见附件" in dossier and sha[:12] in dossier
    assert HUB not in dossier

    # A refused file keeps the typed text, and nothing is recorded.
    refused = client.post(
        f"/leads/{A}/notes",
        data={"csrf_token": token, "text": "这段话不应丢失"},
        files={"files": ("run.exe", b"MZ", "application/octet-stream")},
    )
    assert "类型不允许" in refused.text and ">这段话不应丢失</textarea>" in refused.text
    assert len(store.get_lead(A)["notes"]) == 1
    # Readers see notes but cannot write them.
    assert 'id="note-form"' not in client_for("auditor").get(f"/leads/{A}").text
