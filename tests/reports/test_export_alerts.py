"""`fundflow export alerts`: one row per account, masked unless unmasked with a reason, and audited."""

from __future__ import annotations

import csv
import hashlib

import pytest

from pipelines.cli import main
from pipelines.detection.runner import run_detection
from pipelines.errors import FundflowError
from reports.alerts import export_alerts, lead_ids_of_alerts
from tests.builders import add_payments, day, pay
from tests.reports.test_export_leads import audit_rows

HUB = "6222021234567890128"


def seed_alerts(settings, warehouse) -> None:
    rows = [pay(f"62170000000000{i:05d}", HUB, 25_000, day(i % 25)) for i in range(40)]
    rows.append(pay(HUB, "6228480000000000001", 900_000, day(26)))
    add_payments(warehouse, rows)
    run_detection(settings, con=warehouse)
    warehouse.close()


def read(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_masked_export_has_the_columns_and_an_audit_row(settings, warehouse, tmp_path):
    seed_alerts(settings, warehouse)
    out = tmp_path / "alerts.csv"
    result = export_alerts(settings, out, user="analyst1")
    rows = read(out)
    assert {
        "rule_id",
        "subject",
        "account_no",
        "window_start",
        "window_end",
        "score",
        "lead_id",
        "title_zh",
        "reason_zh",
    } <= set(rows[0])
    t1 = next(row for row in rows if row["rule_id"] == "T1")
    assert t1["account_no"] == "622202*********0128" and t1["subject"] == "622202*********0128"
    assert t1["title_zh"] == "分散转入集中转出" and t1["lead_id"] == ""
    assert t1["reason_zh"].startswith("30 天内 40 名个人转入")
    assert all(HUB not in value for row in rows for value in row.values())
    (record,) = audit_rows(settings)
    assert (record["user"], record["target"], record["file_sha256"], record["reason"]) == (
        "analyst1",
        "alerts",
        hashlib.sha256(out.read_bytes()).hexdigest(),
        None,
    )
    assert record["detail"]["unmasked"] is False
    assert result.rows == len(rows)


def test_unmasked_needs_a_reason_and_is_recorded(settings, warehouse, tmp_path):
    seed_alerts(settings, warehouse)
    with pytest.raises(FundflowError, match="--reason"):
        export_alerts(settings, tmp_path / "a.csv", unmasked=True)
    assert (
        main(
            [
                "--home",
                str(settings.home),
                "export",
                "alerts",
                "--out",
                str(tmp_path / "a.xlsx"),
                "--unmasked",
                "--reason",
                "公安协查 2025-17",
                "--user",
                "chief",
            ]
        )
        == 0
    )
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "a.xlsx").active
    keys = [cell.value for cell in sheet[2]]
    accounts = {sheet.cell(row=r, column=keys.index("account_no") + 1).value for r in range(3, sheet.max_row + 1)}
    assert HUB in accounts
    (record,) = audit_rows(settings)
    assert (record["user"], record["reason"], record["detail"]["unmasked"]) == ("chief", "公安协查 2025-17", True)


def test_no_case_store_yet_means_no_lead_ids(settings):
    assert lead_ids_of_alerts(settings, [{"alert_id": "x", "account_no": "A"}]) == {}
