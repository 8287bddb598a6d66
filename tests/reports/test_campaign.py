"""`fundflow export campaign`: the three statistics tables agree with the lead queue and the ledger they come
from, periods parse or are refused, and each lead is counted as it stood at the end of the period."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from pipelines.cases.store import CaseStore
from pipelines.cli import main
from pipelines.errors import FundflowError
from pipelines.vocabulary import LEAD_STATUS
from reports.campaign import LEDGER_COLUMNS, SUMMARY_COLUMNS, _status_at, export_campaign, parse_period, quarter_of
from tests.reports.conftest import FINE, REPAID
from tests.reports.test_export_leads import audit_rows, read_csv

TODAY = date(2025, 8, 15)


def table(sheet) -> list[dict]:
    """Rows of a campaign sheet (title, unit line, Chinese header, then data) as dicts by Chinese label."""
    header = [cell.value for cell in sheet[3]]
    return [dict(zip(header, values)) for values in sheet.iter_rows(min_row=4, values_only=True)]


def wan(amount) -> Decimal:
    return (Decimal(str(amount)) / 10_000).quantize(Decimal("0.01"))


def queue(settings, period) -> list[dict]:
    """The leads of the period straight from the queue: created by its end, not merged."""
    store = CaseStore.open(settings)
    try:
        return [lead for lead in store.list_leads(created_to=period.end) if lead["status"] != "MERGED"]
    finally:
        store.close()


def test_periods_parse_and_bad_ones_are_refused():
    q3 = parse_period("2025Q3", TODAY)
    assert (q3.start, q3.end, q3.label) == (date(2025, 7, 1), date(2025, 9, 30), "2025年第3季度")
    assert parse_period("2025q4", TODAY).end == date(2025, 12, 31)
    year = parse_period("2025", TODAY)
    assert (year.start, year.end, year.label) == (date(2025, 1, 1), date(2025, 12, 31), "2025年")
    assert parse_period("2025-07-01:2025-07-31", TODAY).end == date(2025, 7, 31)
    assert parse_period(None, TODAY) == quarter_of(TODAY) == q3
    for bad in ("2025Q5", "2025-09-30:2025-07-01", "2025-07-01", "last quarter", "2025-02-30:2025-03-01"):
        with pytest.raises(FundflowError, match="bad period"):
            parse_period(bad, TODAY)


def test_the_tables_agree_with_the_queue_and_the_ledger(store_settings, lead_ids, tmp_path):
    out = tmp_path / "campaign.xlsx"
    result = export_campaign(store_settings, out, "ana")
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["工作情况统计表", "风险线索排查处置情况统计表", "跨省案件(风险)信息统计表"]
    assert workbook["工作情况统计表"]["A1"].value == "打击非法集资专项行动工作情况统计表"
    store = CaseStore.open(store_settings)
    period = quarter_of(store.today())
    store.close()
    leads = queue(store_settings, period)
    assert len(leads) == 2

    [summary] = table(workbook["工作情况统计表"])
    states = {code: summary[f"期末状态：{label}（条）"] for code, label in LEAD_STATUS.items() if code != "MERGED"}
    assert sum(states.values()) == summary["台账线索总数（条）"] == len(leads) == result.rows
    assert states == {code: sum(lead["status"] == code for lead in leads) for code in states}
    assert summary["本期新增线索（条）"] == summary["其中：资金异动监测（条）"] == len(leads)
    assert Decimal(str(summary["涉案金额（万元）"])) == wan(sum(Decimal(str(lead["total_in"])) for lead in leads))
    assert summary["集资参与人（人）"] == sum(lead["individual_payers"] for lead in leads)
    # the ledger of lead A: talk, fine, transfer and repayment done; the rectification still open
    assert (
        summary["警示约谈（次）"],
        summary["责令整改（次）"],
        summary["罚款（次）"],
        summary["移送公安机关（件）"],
        summary["其他处置措施（次）"],
    ) == (1, 0, 1, 1, 1)
    assert Decimal(str(summary["罚款金额（万元）"])) == wan(FINE)
    assert Decimal(str(summary["清退金额（万元）"])) == wan(REPAID)
    assert (summary["领域：养老（条）"], summary["领域：涉农/合作社（条）"], summary["领域：解债（条）"]) == (1, 1, 0)
    assert (summary["重点：跨省（条）"], summary["重点：涉老年人多（条）"], summary["重点：亿元以上（条）"]) == (
        1,
        1,
        0,
    )
    assert summary["完成初核（条）"] == summary["认定非法集资（条）"] == 1

    *ledger, total = table(workbook["风险线索排查处置情况统计表"])
    assert [row["线索编号"] for row in ledger] == [lead["lead_id"] for lead in leads]
    assert sum(Decimal(str(row["涉嫌金额（万元）"])) for row in ledger) == Decimal(str(summary["涉案金额（万元）"]))
    assert total["序号"] == "合计" and total["涉嫌参与人数（人）"] == summary["集资参与人（人）"]
    row_a = next(row for row in ledger if row["线索编号"] == lead_ids[0])
    assert row_a["统一社会信用代码/身份证号"] == "913307********DE1X"
    assert row_a["处置类型"] == "规范整改、行政处置、移送公安机关" and row_a["移送案号"] == "YS-2025-007"
    assert row_a["初核结果及日期"].startswith("会商研判（") and row_a["调查认定结果及日期"].startswith("认定非法集资（")

    *cross, cross_total = table(workbook["跨省案件(风险)信息统计表"])
    assert (
        [row["案件(风险)名称"].split("（")[-1].rstrip("）") for row in cross]
        == [lead["lead_id"] for lead in leads if len(lead["provinces"]) >= 2]
        == [lead_ids[0]]
    )
    [row] = cross
    assert (row["主办地"], row["协办地"], row["所处阶段"]) == ("浙江", "江苏", "刑事")
    assert row["分省参与人数及金额"] == "浙江 30人 60.00万元；江苏 10人 20.00万元"
    assert Decimal(str(cross_total["涉案金额（万元）"])) == Decimal(str(row["涉案金额（万元）"])) == Decimal("80.00")
    assert audit_rows(store_settings)[-1]["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_a_period_before_any_lead_has_empty_tables(store_settings, tmp_path):
    out = tmp_path / "old.csv"
    result = export_campaign(store_settings, out, "ana", period="2020Q1")
    assert [path.name for path, _ in result.files] == ["old.a.csv", "old.b.csv", "old.c.csv"]
    [summary] = read_csv(tmp_path / "old.a.csv")
    assert summary["统计期间"] == "2020年第1季度" and summary["台账线索总数（条）"] == "0"
    assert summary["罚款（次）"] == "0" and summary["清退金额（万元）"] == "0.00"
    assert [row["序号"] for row in read_csv(tmp_path / "old.b.csv")] == ["合计"]
    assert [row["序号"] for row in read_csv(tmp_path / "old.c.csv")] == ["合计"]
    assert [record["file_sha256"] for record in audit_rows(store_settings)] == [sha for _, sha in result.files]


def test_the_quarter_in_which_the_money_moved_counts_leads_opened_later(store_settings, lead_ids, tmp_path):
    out = tmp_path / "moved.csv"
    export_campaign(store_settings, out, "ana", period="2025Q1")  # the seeded money moved in March 2025
    [summary] = read_csv(tmp_path / "moved.a.csv")
    assert summary["台账线索总数（条）"] == str(len(lead_ids))
    listed = [row["序号"] for row in read_csv(tmp_path / "moved.b.csv")]
    assert len(listed) == len(lead_ids) + 1  # and the 合计 line


def test_a_lead_counts_with_the_status_it_had_at_the_end_of_the_period():
    history = [
        {"at": datetime(2025, 6, 1), "to_status": "NEW"},
        {"at": datetime(2025, 6, 20), "to_status": "TRIAGE"},
        {"at": datetime(2025, 7, 3), "to_status": "CONSULTATION"},
    ]
    assert _status_at(history, datetime(2025, 7, 1)) == "TRIAGE"
    assert _status_at(history, datetime(2025, 7, 4)) == "CONSULTATION"
    assert _status_at(history, datetime(2025, 6, 1)) is None


def test_column_lists_have_unique_keys_and_chinese_labels():
    for columns in (SUMMARY_COLUMNS, LEDGER_COLUMNS):
        keys = [column.key for column, _ in columns]
        assert len(keys) == len(set(keys))
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in column.label_zh) for column, _ in columns)


def test_cli_writes_three_csv_files_and_says_so(store_settings, tmp_path, capsys):
    out = tmp_path / "campaign.csv"
    assert (
        main(
            [
                "--home",
                str(store_settings.home),
                "export",
                "campaign",
                "--out",
                str(out),
                "--period",
                "2025-07-01:2025-09-30",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert all(f"campaign.{part}.csv" in printed for part in "abc") and "三个文件" in printed
    assert main(["--home", str(store_settings.home), "export", "campaign", "--out", str(out), "--period", "Q3"]) == 1
    assert "bad period" in capsys.readouterr().err


def test_unmasked_tables_need_a_reason(store_settings, tmp_path):
    out = tmp_path / "campaign.xlsx"
    with pytest.raises(FundflowError, match="--reason"):
        export_campaign(store_settings, out, "ana", unmasked=True)
    assert not out.exists()
    export_campaign(store_settings, out, "chief", unmasked=True, reason="上报市处非办核对")
    ids = {row["统一社会信用代码/身份证号"] for row in table(load_workbook(out)["风险线索排查处置情况统计表"])}
    assert "91330782MA2ABCDE1X" in ids
    assert audit_rows(store_settings)[-1]["reason"] == "上报市处非办核对"
