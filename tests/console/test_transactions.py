"""The lead page's 交易明细 table: server-side sort, filter (date, amount, kind, counterparty), paging past the
old 500-row cap, and its masked, audited export."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa
from openpyxl import load_workbook

from pipelines.cases.store import audit, lead_payments
from tests.console.conftest import COLLECTOR, HUB, add_lead, csrf_of, investor_account

LEAD = "XS2025-000001"


def table_rows(html: str) -> list[list[str]]:
    table = html.split('id="payments"')[1].split("</table>")[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in table.split("<tr>")[2:]]


def test_payments_sort_filter_and_page_past_500_rows(store, client_for):
    facts = add_lead(store, LEAD, 300)  # 602 payments
    with store.write() as conn:
        conn.execute(lead_payments.update().where(lead_payments.c.payment_id == f"{LEAD}-cash").values(flow="cash_out"))
    client = client_for("analyst")
    first = client.get(f"/leads/{LEAD}").text
    assert "证据交易 602 笔" in first and "第 1/7 页" in first and len(table_rows(first)) == 100
    last = client.get(f"/leads/{LEAD}", params={"tx_page": 7}).text
    assert len(table_rows(last)) == 2

    by_amount = table_rows(client.get(f"/leads/{LEAD}", params={"tx_sort": "amount", "tx_desc": "1"}).text)
    assert by_amount[0][3] == "¥500,000.00" and by_amount[1][3] == "¥300,000.00"
    ascending = table_rows(client.get(f"/leads/{LEAD}", params={"tx_sort": "amount"}).text)
    assert ascending[0][3] == "¥10,000.00"

    march = client.get(
        f"/leads/{LEAD}", params={"tx_start": "2025-03-01", "tx_end": "2025-03-02", "tx_min": "10100"}
    ).text
    expected = [
        p
        for p in facts["payments"]
        if p["txn_time"].day in (1, 2) and p["txn_time"].month == 3 and p["amount"] >= 10100
    ]
    assert f"符合条件 {len(expected)} 笔" in march and len(table_rows(march)) == len(expected) > 0

    cash = client.get(f"/leads/{LEAD}", params={"tx_flow": "cash_out"}).text
    assert "符合条件 1 笔" in cash and "取现" in table_rows(cash)[0][4]

    # Counterparty: by name, by the last 4 digits shown, or the whole number — never by other digit runs.
    named = client.get(f"/leads/{LEAD}", params={"tx_party": "参与人7"}).text
    assert "符合条件 22 笔" in named  # 参与人7, 参与人70–79, 参与人170–179 … each paying twice
    assert "符合条件 2 笔" in client.get(f"/leads/{LEAD}", params={"tx_party": investor_account(5)}).text
    last4 = client.get(f"/leads/{LEAD}", params={"tx_party": COLLECTOR[-4:]}).text
    ending = [
        p
        for p in facts["payments"]
        if any((p[k] or "").endswith(COLLECTOR[-4:]) for k in ("payer_account", "payee_account"))
    ]
    assert len(ending) > 300 and f"符合条件 {len(ending)} 笔" in last4  # the collector's, and participant 26's
    assert "没有符合条件的交易" in client.get(f"/leads/{LEAD}", params={"tx_party": HUB[6:12]}).text

    refused = client.get(f"/leads/{LEAD}", params={"tx_start": "2025-04-01", "tx_end": "2025-03-01"}).text
    assert "晚于结束日期" in refused and "证据交易 602 笔" in refused


def test_transactions_export_is_filtered_masked_and_audited(store, client_for):
    add_lead(store, LEAD, 12)
    client = client_for("reviewer")
    token = csrf_of(client.get(f"/leads/{LEAD}").text)
    response = client.post(
        "/exports/transactions",
        data={"csrf_token": token, "lead_id": LEAD, "tx_min": "100000", "tx_sort": "amount", "tx_desc": "1"},
    )
    assert response.status_code == 200 and "spreadsheetml" in response.headers["content-type"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    text = repr(values)
    assert HUB not in text and COLLECTOR not in text and "622202*********0018" in text
    amounts = [row[3] for row in values if isinstance(row[3], (int, float))]
    assert amounts == [500000, 300000]
    with store.read() as conn:
        record = conn.execute(sa.select(audit).where(audit.c.action == "export")).mappings().one()
    assert record["user"] == "reviewer" and record["target"] == LEAD and record["file_sha256"]
    assert record["detail"]["what"] == "transactions" and record["detail"]["rows"] == 2
    assert record["detail"]["filter"]["min_amount"] == "100000.0"
    # The admin does not export a lead's payments (need to know).
    admin = client_for("admin")
    refused = admin.post("/exports/transactions", data={"csrf_token": csrf_of(admin.get("/").text), "lead_id": LEAD})
    assert refused.status_code == 403
