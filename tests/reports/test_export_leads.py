"""`fundflow export leads`: the office's lead list with Chinese headers, masked numbers, no live formulas, a
joinable accounts table, unmasking only with a reason, and every file in the case-store audit."""

from __future__ import annotations

import csv
import getpass
import hashlib
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from pipelines.cases.store import CaseStore, CaseStoreBusyError, audit
from pipelines.cli import main
from pipelines.errors import FundflowError
from reports.leads_export import export_leads
from tests.pipelines.cases.test_publish import COLLECTOR, HUB, OTHER_HUB
from tests.reports.conftest import FORMULA_NAME

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def audit_rows(settings) -> list[dict]:
    store = CaseStore.open(settings)
    try:
        with store.read() as conn:
            return [
                dict(row)
                for row in conn.execute(
                    sa.select(audit).where(audit.c.action == "export").order_by(audit.c.seq)
                ).mappings()
            ]
    finally:
        store.close()


def sheet_rows(sheet) -> tuple[list[str], list[str], list[dict]]:
    """(Chinese labels, keys, rows as dicts by key) of a sheet written with a key row."""
    labels = [cell.value for cell in sheet[1]]
    keys = [cell.value for cell in sheet[2]]
    rows = [dict(zip(keys, values)) for values in sheet.iter_rows(min_row=3, values_only=True)]
    return labels, keys, rows


def read_csv(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_xlsx_lead_list_has_chinese_headers_masked_numbers_and_no_formulas(store_settings, lead_ids, tmp_path):
    lead_a, lead_b = lead_ids
    out = tmp_path / "线索清单.xlsx"
    result = export_leads(store_settings, out, "ana")
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["线索清单", "涉及账户"]
    labels, keys, rows = sheet_rows(workbook["线索清单"])
    assert {
        "线索编号",
        "主体名称",
        "证件号码/统一社会信用代码",
        "主要账户（开户机构）",
        "转入总额（元）",
        "重点领域",
        "重点标记",
        "当前状态",
        "建议措施",
    } <= set(labels)
    assert keys[0] == "lead_id" and result.rows == len(rows) == 2
    by_id = {row["lead_id"]: row for row in rows}
    a, b = by_id[lead_a], by_id[lead_b]
    assert a["subject_id_no"] == "913307********DE1X"
    assert a["key_accounts"].startswith("622202*********0018（B001，资金归集账户）")
    assert Decimal(str(a["total_in"])) == Decimal("800000.00") and a["individual_payers"] == 40
    assert a["provinces"] == "江苏、浙江" and a["province_count"] == 2
    assert (a["sectors"], a["priority"], a["status"]) == ("养老", "跨省、涉老年人多", "分类处置")
    assert a["recommended_action"] == "推进台账未销号事项 1 项"
    assert "T1 分散转入集中转出" in a["rule_hits"]
    assert (b["status"], b["sectors"], b["priority"]) == ("初核", "涉农/合作社", None)
    assert all(DAY.match(row[key]) for row in rows for key in ("created_at", "window_start", "window_end", "due_date"))
    # the holder name that starts with "=" is a text cell, never a formula
    name_cell = workbook["线索清单"].cell(row=2 + list(by_id).index(lead_b) + 1, column=keys.index("subject_name") + 1)
    assert name_cell.value == FORMULA_NAME and name_cell.data_type == "s"

    _, account_keys, accounts = sheet_rows(workbook["涉及账户"])
    assert account_keys[:3] == ["lead_id", "account_no", "role"]
    assert {row["lead_id"] for row in accounts} == {lead_a, lead_b}
    assert {(row["account_no"], row["role"]) for row in accounts if row["lead_id"] == lead_a} >= {
        ("622202*********0018", "hub"),
        ("622202*********0026", "collector"),
    }
    every_cell = [str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True) for cell in row]
    whole = (HUB, COLLECTOR, OTHER_HUB, "91330782MA2ABCDE1X")
    assert not any(number in cell for cell in every_cell for number in whole)


def test_every_export_file_is_audited_with_its_sha256(store_settings, tmp_path):
    out = tmp_path / "leads.xlsx"
    result = export_leads(store_settings, out, "ana")
    [record] = audit_rows(store_settings)
    assert record["user"] == "ana" and record["reason"] is None
    assert record["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() == result.sha256
    assert record["detail"]["what"] == "leads" and record["detail"]["unmasked"] is False
    assert record["detail"]["path"] == str(out.resolve())


def test_unmasked_needs_a_reason_and_keeps_numbers_whole_for_joining(store_settings, lead_ids, tmp_path):
    out = tmp_path / "leads.csv"
    for reason in (None, "  "):
        with pytest.raises(FundflowError, match="--reason"):
            export_leads(store_settings, out, "ana", unmasked=True, reason=reason)
    assert not out.exists() and audit_rows(store_settings) == []

    result = export_leads(store_settings, out, "chief", unmasked=True, reason="公安协查 2025-17")
    accounts_csv = tmp_path / "leads.accounts.csv"
    assert [path for path, _ in result.files] == [out, accounts_csv]
    leads = read_csv(out)
    assert leads[0]["lead_id"] == lead_ids[0] and leads[0]["subject_id_no"] == "91330782MA2ABCDE1X"
    accounts = read_csv(accounts_csv)
    assert list(accounts[0])[:3] == ["lead_id", "account_no", "role"]
    assert {"lead_id": lead_ids[0], "account_no": HUB, "role": "hub"}.items() <= next(
        row for row in accounts if row["account_no"] == HUB
    ).items()
    records = audit_rows(store_settings)
    assert [(r["user"], r["reason"], r["file_sha256"]) for r in records] == [
        ("chief", "公安协查 2025-17", hashlib.sha256(path.read_bytes()).hexdigest()) for path in (out, accounts_csv)
    ]
    assert all(r["detail"]["unmasked"] is True for r in records)


def test_masked_csv_quotes_formula_text_and_masks_accounts(store_settings, lead_ids, tmp_path):
    out = tmp_path / "leads.csv"
    export_leads(store_settings, out, "ana")
    by_id = {row["lead_id"]: row for row in read_csv(out)}
    assert by_id[lead_ids[1]]["subject_name"] == "'" + FORMULA_NAME
    accounts = read_csv(tmp_path / "leads.accounts.csv")
    assert accounts and all("*" in row["account_no"] for row in accounts)


def test_filters_narrow_the_list_and_unknown_ones_are_refused(store_settings, lead_ids, tmp_path):
    result = export_leads(store_settings, tmp_path / "triage.csv", "ana", filters={"status": "TRIAGE"})
    assert result.rows == 1 and [row["lead_id"] for row in read_csv(result.path)] == [lead_ids[1]]
    with pytest.raises(FundflowError, match="unknown filter colour"):
        export_leads(store_settings, tmp_path / "x.csv", "ana", filters={"colour": "red"})


def test_an_export_the_audit_cannot_record_is_removed(store_settings, tmp_path, monkeypatch):
    def busy(*args, **kwargs):
        raise CaseStoreBusyError("线索库正忙 / busy")

    monkeypatch.setattr(CaseStore, "append_audit", busy)
    out = tmp_path / "leads.csv"
    with pytest.raises(CaseStoreBusyError):
        export_leads(store_settings, out, "ana")
    assert not out.exists() and not (tmp_path / "leads.accounts.csv").exists()


def test_cli_records_the_os_user_when_no_user_is_given(store_settings, tmp_path, capsys):
    out = tmp_path / "leads.csv"
    assert main(["--home", str(store_settings.home), "export", "leads", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "已导出 2 条线索" in printed and "leads.accounts.csv" in printed
    assert {record["user"] for record in audit_rows(store_settings)} == {getpass.getuser()}
    assert main(["--home", str(store_settings.home), "export", "leads", "--out", str(out), "--unmasked"]) == 1
    assert "--reason" in capsys.readouterr().err
