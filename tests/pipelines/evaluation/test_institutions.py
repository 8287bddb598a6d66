"""The reporting institutions' scorecard on hand-built bank files: a bank that leaves out the IN legs of transfers
from another county bank, files that arrive late or on time by working days, a quarantine-heavy file; the rule
files' checks; and the CLI's JSON and XLSX (Chinese headers, masked)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from pipelines.errors import ConfigError, FundflowError
from pipelines.evaluation.institution_rules import load_calendar, load_scorecard_rules
from pipelines.evaluation.institutions import build_scorecard, compute_scorecard, parse_period
from pipelines.idcodes import luhn_check_digit, resident_id_check_char
from pipelines.ingest.load import ingest_paths
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse

COLUMNS = (
    "report_kind",
    "institution_code",
    "txn_ref",
    "txn_time",
    "account_no",
    "account_name",
    "customer_id_type",
    "customer_id_no",
    "direction",
    "amount",
    "currency",
    "counterparty_account_no",
    "counterparty_name",
    "counterparty_id_type",
    "counterparty_id_no",
    "counterparty_institution",
    "method",
    "match_no",
)
BANK_A, BANK_B, BANK_C, BANK_D, BANK_E = "C0001", "C0002", "C0003", "C0004", "C0005"


def person_id(seq: int) -> str:
    first17 = f"33078219600101{seq:03d}"
    return first17 + resident_id_check_char(first17)


def card(bank: int, seq: int) -> str:
    partial = f"62{bank:02d}0000{seq:08d}"
    return partial + luhn_check_digit(partial)


def line(
    bank: str,
    ref: str,
    when: str,
    account: str,
    direction: str,
    amount: str,
    counterparty: str | None,
    counterparty_bank: str | None,
    holder: int = 1,
    other: int = 2,
    match_no: str = "",
) -> dict:
    return {
        "report_kind": "LARGE",
        "institution_code": bank,
        "txn_ref": ref,
        "txn_time": when,
        "account_no": account,
        "account_name": "张三丰" if holder == 1 else "李四光",
        "customer_id_type": "居民身份证",
        "customer_id_no": person_id(holder),
        "direction": direction,
        "amount": amount,
        "currency": "CNY",
        "counterparty_account_no": counterparty or "",
        "counterparty_name": "李四光" if counterparty else "",
        "counterparty_id_type": "居民身份证" if counterparty else "",
        "counterparty_id_no": person_id(other) if counterparty else "",
        "counterparty_institution": counterparty_bank or "",
        "method": "TRANSFER" if counterparty else "CASH",
        "match_no": match_no,
    }


def write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


A1, A2, B1, B2, C1 = card(1, 1), card(1, 2), card(2, 1), card(2, 2), card(3, 1)


@pytest.fixture(scope="module")
def built_county(tmp_path_factory) -> Path:
    """Five banks. A sends the OUT legs of five transfers to B's accounts and two to C's; B files only its
    own payments (no IN legs of A's transfers); C files its IN legs. D sends one file 8 working days late and
    others on time across a weekend and a holiday; E sends a file of which three rows in four are bad."""
    root = tmp_path_factory.mktemp("county")
    settings = Settings.load(root / "home")
    folder = root / "inbox"
    folder.mkdir()
    a_lines = [
        line(BANK_A, f"A{n}", f"2025-03-03 10:0{n}:00", A1, "OUT", "1000.00", B1, BANK_B, match_no=f"M{n}")
        for n in range(4)
    ]
    # a large transfer B should have reported (a person receiving ≥ ¥500,000 in a day)
    a_lines.append(line(BANK_A, "A4", "2025-03-03 11:00:00", A2, "OUT", "600000.00", B2, BANK_B, match_no="M4"))
    a_lines += [
        line(BANK_A, f"A{n}", f"2025-03-03 12:0{n}:00", A1, "OUT", "2000.00", C1, BANK_C, match_no=f"M{n}")
        for n in (5, 6)
    ]
    c_lines = [
        line(BANK_C, f"C{n}", f"2025-03-03 12:0{n}:00", C1, "IN", "2000.00", A1, BANK_A, 2, 1, match_no=f"M{n}")
        for n in (5, 6)
    ]
    b_lines = [line(BANK_B, "B1", "2025-03-04 09:00:00", B1, "OUT", "60000.00", None, None, 2)]  # cash
    d_late = [line(BANK_D, "D1", "2025-03-03 09:00:00", card(4, 1), "OUT", "70000.00", None, None)]
    d_weekend = [line(BANK_D, "D2", "2025-03-06 09:00:00", card(4, 1), "OUT", "80000.00", None, None)]
    d_week = [line(BANK_D, "D3", "2025-03-06 15:00:00", card(4, 1), "OUT", "90000.00", None, None)]
    d_holiday = [line(BANK_D, "D4", "2025-09-30 09:00:00", card(4, 1), "OUT", "95000.00", None, None)]
    e_lines = [
        line(BANK_E, f"E{n}", "2025-03-05 09:00:00", card(5, n), "OUT", "51000.00", None, None) for n in range(4)
    ]
    e_lines[1]["amount"] = "-5"
    e_lines[2]["direction"] = "SIDEWAYS"
    e_lines[3]["txn_time"] = "not a time"
    files = {
        "A.csv": (a_lines, datetime(2025, 3, 4, 9)),
        "B.csv": (b_lines, datetime(2025, 3, 5, 9)),
        "C.csv": (c_lines, datetime(2025, 3, 4, 9)),
        "D_late.csv": (d_late, datetime(2025, 3, 13, 16)),  # Mon 3 Mar → Thu 13 Mar: 8 working days
        "D_weekend.csv": (d_weekend, datetime(2025, 3, 10, 8)),  # Thu 6 Mar → Mon 10 Mar: 4 days, 2 working
        "D_week.csv": (d_week, datetime(2025, 3, 13, 8)),  # Thu → next Thu: 7 days, 5 working
        "D_holiday.csv": (d_holiday, datetime(2025, 10, 10, 8)),  # 30 Sep → 10 Oct over 国庆: 2 working days
        "E.csv": (e_lines, datetime(2025, 3, 6, 9)),
    }
    paths = [write(folder, name, rows) for name, (rows, _arrived) in files.items()]
    results = ingest_paths(settings, paths, progress=False)
    assert all(result.status == "loaded" for result in results), [r.error for r in results]
    con = warehouse.connect(settings)
    for name, (_rows, arrived) in files.items():
        con.execute("UPDATE files SET arrived_at = ? WHERE file_name = ?", [arrived, name])
    con.close()
    return settings.home


@pytest.fixture
def county(settings, built_county):
    """The county's warehouse, copied into this test's home folder (built once per module)."""
    shutil.copy2(built_county / "warehouse.duckdb", settings.warehouse_path)
    con = warehouse.connect(settings)
    yield con
    con.close()


def by_bank(scorecard) -> dict[str, dict]:
    return {row["institution_code"]: row for row in scorecard.summary}


def rules(settings):
    return load_scorecard_rules(settings.institutions_rules_dir)


def test_a_bank_leaving_out_the_in_legs_of_transfers_from_another_county_bank_shows_the_missing_share(settings, county):
    scorecard = compute_scorecard(county, rules(settings), parse_period("2025-03"), today=date(2025, 3, 31))
    banks = by_bank(scorecard)
    # B: five transfers came in from A (A reported the OUT legs), B filed none of the IN legs
    assert (banks[BANK_B]["transfer_sides"], banks[BANK_B]["missing_legs"]) == (5, 5)
    assert banks[BANK_B]["missing_leg_share"] == 1.0
    # A and C filed their ends (A's count only the transfers whose other end was reported: those to C)
    assert (banks[BANK_A]["transfer_sides"], banks[BANK_A]["missing_legs"]) == (2, 0)
    assert banks[BANK_A]["missing_leg_share"] == 0.0
    assert (banks[BANK_C]["transfer_sides"], banks[BANK_C]["missing_legs"]) == (2, 0)
    # of B's five, the ¥600,000 one reached the natural-person bar and is known only from A's report
    assert banks[BANK_B]["large_unreported"] == 1 and banks[BANK_A]["large_unreported"] == 0
    (unreported,) = scorecard.tables["large_unreported"]
    assert (unreported["account_no"], unreported["other_institution"], unreported["other_txn_ref"]) == (
        B2,
        BANK_A,
        "A4",
    )
    assert ("missing_leg_share", 1.0, 0.2) in banks[BANK_B]["crossed"]


def test_a_file_8_working_days_late_is_late_and_4_days_across_a_weekend_is_not(settings, county):
    scorecard = compute_scorecard(county, rules(settings), parse_period("2025"), today=date(2025, 12, 31))
    late = {row["file_name"]: row for row in scorecard.tables["late_files"] if row["institution_code"] == BANK_D}
    assert list(late) == ["D_late.csv"]
    assert late["D_late.csv"]["max_lag"] == 8 and late["D_late.csv"]["deadline"] == 5
    bank_d = by_bank(scorecard)[BANK_D]
    assert (bank_d["lines_timed"], bank_d["late_lines"], bank_d["late_share"]) == (4, 1, 0.25)
    assert bank_d["max_lag_working_days"] == 8


def test_working_days_follow_the_holiday_table(settings):
    calendar = load_calendar(settings.institutions_rules_dir / "holidays.yaml", problems := [])
    assert problems == []
    assert calendar.working_days_after(date(2025, 3, 6), date(2025, 3, 10)) == 2  # over a weekend
    assert calendar.working_days_after(date(2025, 9, 30), date(2025, 10, 10)) == 2  # over 国庆
    assert calendar.is_working(date(2025, 9, 28))  # a Sunday worked in exchange (调休)
    assert calendar.add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 5)  # over 春节


def test_a_quarantine_heavy_file_raises_that_banks_rate(settings, county):
    scorecard = compute_scorecard(county, rules(settings), parse_period("2025Q1"), today=date(2025, 3, 31))
    banks = by_bank(scorecard)
    assert (banks[BANK_E]["lines"], banks[BANK_E]["quarantined"], banks[BANK_E]["quarantine_rate"]) == (4, 3, 0.75)
    assert all(banks[code]["quarantine_rate"] == 0 for code in (BANK_A, BANK_B, BANK_C, BANK_D))
    reasons = {row["reason_code"] for row in scorecard.tables["quarantine"] if row["institution_code"] == BANK_E}
    assert {"non_positive_amount", "bad_direction", "bad_time"} <= reasons
    assert any(key == "quarantine_rate" for key, _value, _bar in banks[BANK_E]["crossed"])


def test_files_and_lines_are_counted_by_kind_and_completeness_by_field(settings, county):
    banks = by_bank(compute_scorecard(county, rules(settings), parse_period("2025-03"), today=date(2025, 3, 31)))
    assert (banks[BANK_A]["files"], banks[BANK_A]["lines"], banks[BANK_A]["lines_large"]) == (1, 7, 7)
    assert banks[BANK_D]["files"] == 3  # the September file counts in September
    completeness = {
        row["institution_code"]: row
        for row in compute_scorecard(county, rules(settings), parse_period("2025-03"), today=date(2025, 3, 31)).tables[
            "completeness"
        ]
    }
    assert completeness[BANK_A]["match_no"] == 1.0 and completeness[BANK_A]["memo"] == 0.0


def test_no_file_for_working_days_is_counted_to_the_end_of_the_period(settings, county):
    banks = by_bank(compute_scorecard(county, rules(settings), parse_period("2025-03"), today=date(2025, 6, 1)))
    # B's only file arrived Wed 5 Mar; to Mon 31 Mar that is 18 working days
    assert banks[BANK_B]["last_file_on"] == date(2025, 3, 5)
    assert banks[BANK_B]["working_days_since_last_file"] == 18
    assert ("no_file_working_days", 18, 3.0) in banks[BANK_B]["crossed"]


def test_periods_parse_as_months_quarters_and_years():
    assert (parse_period("2025-02").start, parse_period("2025-02").end) == (date(2025, 2, 1), date(2025, 2, 28))
    assert (parse_period("2025Q4").start, parse_period("2025Q4").end) == (date(2025, 10, 1), date(2025, 12, 31))
    assert parse_period("202512").key == "2025-12"
    with pytest.raises(FundflowError, match="bad period"):
        parse_period("2025-13")


def test_the_rule_files_are_checked_and_every_problem_named(settings, tmp_path):
    folder = tmp_path / "institutions"
    folder.mkdir()
    source = settings.institutions_rules_dir
    (folder / "holidays.yaml").write_text(
        (source / "holidays.yaml").read_text(encoding="utf-8") + "  - 2025-03-04\n", encoding="utf-8"
    )  # a Tuesday listed as a make-up working day
    text = (source / "scorecard.yaml").read_text(encoding="utf-8")
    text = text.replace("large_deadline_working_days: 5", "large_deadline_working_day: 5")
    text = text.replace("late_share: 0.10", "late_share: 1.5")
    (folder / "scorecard.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scorecard_rules(folder)
    message = str(caught.value)
    assert "institutions/scorecard.yaml: large_deadline_working_day: 未知字段" in message
    assert "institutions/scorecard.yaml: large_deadline_working_days: 缺少字段" in message
    assert "alerts.late_share" in message
    assert "workdays: 2025-03-04" in message


def test_cli_json_and_xlsx_have_the_figures_chinese_headers_and_masked_accounts(settings, county, capsys, tmp_path):
    from openpyxl import load_workbook

    from pipelines.cli import main

    county.close()  # the CLI opens the warehouse itself
    assert main(["--home", str(settings.home), "institutions", "report", "--period", "2025-03", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    bank_b = next(row for row in rows if row["institution_code"] == BANK_B)
    for key in ("institution_code", "period", "files", "lines", "quarantine_rate", "late_share", "missing_leg_share"):
        assert key in bank_b
    assert bank_b["period"] == "2025-03" and bank_b["missing_leg_share"] == 1.0

    out = tmp_path / "scorecard.xlsx"
    assert main(["--home", str(settings.home), "institutions", "report", "--period", "2025-03", "--out", str(out)]) == 0
    book = load_workbook(out)
    assert book.sheetnames[0] == "汇总" and {"隔离原因", "及时性", "报告覆盖", "应报未报大额", "应报未报可疑"} <= set(
        book.sheetnames
    )
    headers = [cell.value for cell in next(r for r in book["汇总"].iter_rows() if r[0].value == "报告机构编码")]
    assert {"报告机构编码", "隔离率", "逾期占比", "漏报一端占比"} <= set(headers)
    text = "\n".join(str(cell.value) for sheet in book for row in sheet.iter_rows() for cell in row if cell.value)
    assert B2 not in text and B2[:6] + "*" * (len(B2) - 10) + B2[-4:] in text
    assert "李四光" not in text and "李*光" in text


def test_the_export_is_audited_and_unmasking_needs_a_reason(settings, county, tmp_path):
    from reports.institutions import export_institutions

    scorecard = build_scorecard(settings, parse_period("2025-03"), con=county)
    with pytest.raises(FundflowError, match="--reason"):
        export_institutions(settings, scorecard, tmp_path / "x.xlsx", "alice", unmasked=True)
    result = export_institutions(settings, scorecard, tmp_path / "y.xlsx", "alice", unmasked=True, reason="核查")
    from pipelines.cases.store import CaseStore, audit

    store = CaseStore.open(settings)
    with store.read() as conn:
        recorded = [dict(row._mapping) for row in conn.execute(audit.select())]
    store.close()
    assert any(row["file_sha256"] == result.sha256 and row["reason"] == "核查" for row in recorded)


def test_lead_accounts_their_bank_reported_only_as_large_or_not_at_all_are_missed_reports(settings, county):
    from decimal import Decimal

    from pipelines.cases.store import CaseStore, lead_accounts, lead_payments, leads

    store = CaseStore.open(settings)
    now = store.now()
    with store.write() as conn:
        for lead_id, status in (("XS2025-000001", "CONSULTATION"), ("XS2025-000002", "NOT_ILLEGAL")):
            conn.execute(
                leads.insert().values(
                    lead_id=lead_id, ring_key=lead_id, status=status, source="manual", total_in=0, total_out=0,
                    individual_payers=0, elderly_share=0.0, provinces=[], province_stats=[], typologies=[],
                    rule_ids=[], sectors=[], keywords=[], priority=[], score=0.5, narrative="", reasons=[],
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
        for lead_id, account, role in (
            ("XS2025-000001", B2, "hub"),
            ("XS2025-000001", A2, "collector"),
            ("XS2025-000001", A1, "investor"),  # a participant is no subject of a suspicious report
            ("XS2025-000002", C1, "hub"),  # found lawful
        ):
            conn.execute(
                lead_accounts.insert().values(lead_id=lead_id, account_no=account, role=role, total_in=0, total_out=0)
            )
        conn.execute(
            lead_payments.insert().values(
                lead_id="XS2025-000001", payment_id="p1", run_id="r1", txn_time=datetime(2025, 3, 3, 11),
                payer_account=A2, payee_account=B2, amount=Decimal(600000), method="TRANSFER", is_cash=False,
            )
        )  # fmt: skip
    store.close()
    scorecard = build_scorecard(settings, parse_period("2025-03"), con=county, today=date(2025, 3, 31))
    missed = {row["account_no"]: row for row in scorecard.tables["missed"]}
    assert set(missed) == {A2, B2}
    assert (missed[B2]["institution_code"], missed[B2]["how_reported"]) == (BANK_B, "not_reported")
    assert (missed[A2]["institution_code"], missed[A2]["how_reported"]) == (BANK_A, "large_only")
    assert missed[A2]["first_flaggable"] == missed[B2]["first_flaggable"] == date(2025, 3, 3)
    banks = by_bank(scorecard)
    assert (
        banks[BANK_A]["missed_suspicious"],
        banks[BANK_B]["missed_suspicious"],
        banks[BANK_C]["missed_suspicious"],
    ) == (1, 1, 0)


def test_the_nightly_summary_lists_institutions_past_a_threshold(settings, county):
    from pipelines.flows import summary_markdown
    from reports.institutions import nightly_institutions, read_snapshots

    county.close()
    flagged = nightly_institutions(settings, today=date(2025, 3, 31))
    by_code = {item["institution_code"]: item for item in flagged}
    assert "漏报一端占比 100.0%（阈值 20.0%）" in by_code[BANK_B]["crossed"]
    assert "隔离率 75.0%" in by_code[BANK_E]["crossed"]
    assert BANK_C in by_code and "连续未来文（工作日） 19" in by_code[BANK_C]["crossed"]  # last file Tue 4 Mar
    summary = {"nothing_new": False, "failed": 0, "file_results": [], "institutions": flagged}
    text = summary_markdown(summary)
    assert "报告机构提示" in text and f"`{BANK_B}`（2025-03）" in text
    # this month's, and the quarter of the latest transaction (30 Sep, D's holiday file)
    assert [snapshot["period"]["key"] for snapshot in read_snapshots(settings)] == ["2025Q3", "2025-03"]
    shown = json.dumps(read_snapshots(settings), ensure_ascii=False)
    assert B2 not in shown  # the console's copy is masked


def test_a_side_left_unreported_is_large_by_its_customers_whole_day_reported_sides_included(settings, tmp_path):
    """B2 receives ¥300,000 from A (B leaves out the IN leg) and ¥250,000 from C (B files it) on one day: the
    day's ¥550,000 passes the natural person's ¥500,000 bar, so the side B left out is a large one unreported."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    day = "2025-04-10"
    a_out = line(BANK_A, "A9", f"{day} 09:00:00", A1, "OUT", "300000.00", B2, BANK_B, match_no="N1")
    c_out = line(BANK_C, "C9", f"{day} 10:00:00", C1, "OUT", "250000.00", B2, BANK_B, 2, 1, match_no="N2")
    b_in = line(BANK_B, "B9", f"{day} 10:00:00", B2, "IN", "250000.00", C1, BANK_C, 2, 1, match_no="N2")
    paths = [write(folder, name, [row]) for name, row in (("A.csv", a_out), ("C.csv", c_out), ("B.csv", b_in))]
    results = ingest_paths(settings, paths, progress=False)
    assert all(result.status == "loaded" for result in results), [r.error for r in results]
    con = warehouse.connect(settings)
    try:
        scorecard = compute_scorecard(con, rules(settings), parse_period("2025-04"), today=date(2025, 4, 30))
    finally:
        con.close()
    (unreported,) = scorecard.tables["large_unreported"]
    assert (unreported["account_no"], unreported["amount_cny"], unreported["day_total"]) == (B2, 300000, 550000)
    assert (unreported["other_institution"], unreported["other_txn_ref"]) == (BANK_A, "A9")
    banks = by_bank(scorecard)
    assert (banks[BANK_B]["large_unreported"], banks[BANK_B]["missing_legs"]) == (1, 1)


def test_a_line_sent_again_later_is_timed_by_the_file_that_first_brought_it(settings, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    first = line(BANK_D, "D5", "2025-06-02 09:00:00", card(4, 1), "OUT", "70000.00", None, None)
    again = dict(first, amount="71000.00")  # the same line corrected, 13 working days later
    arrivals = {"D_first.csv": datetime(2025, 6, 3, 9), "D_again.csv": datetime(2025, 6, 20, 9)}
    for name, row in (("D_first.csv", first), ("D_again.csv", again)):
        (result,) = ingest_paths(settings, [write(folder, name, [row])], progress=False)
        assert result.status == "loaded", result.error
    con = warehouse.connect(settings)
    try:
        for name, arrived in arrivals.items():
            con.execute("UPDATE files SET arrived_at = ? WHERE file_name = ?", [arrived, name])
        assert warehouse.scalar(con, "SELECT count(*) FROM txn_versions") == 1
        scorecard = compute_scorecard(con, rules(settings), parse_period("2025-06"), today=date(2025, 6, 30))
    finally:
        con.close()
    bank_d = by_bank(scorecard)[BANK_D]
    assert (bank_d["lines_timed"], bank_d["late_lines"], bank_d["max_lag_working_days"]) == (1, 0, 1)
    assert scorecard.tables["late_files"] == []


@pytest.mark.parametrize("seed", range(10))
def test_timeliness_from_counted_lines_is_what_the_lines_one_by_one_give(seed):
    """sc_lags counts lines per file and due day; the summary's median lag from those counts equals DuckDB's
    median over the lines themselves (odd and even counts, middle values that differ, one value only)."""
    import random

    from pipelines.evaluation.institutions import TIMELINESS_SUMMARY_SQL

    rng = random.Random(seed)
    rows = [
        (rng.choice(["C1", "C2"]), rng.choice(["LARGE", "SUSPICIOUS"]), f"F{rng.randrange(4)}.csv",
         date(2025, 3, 1), date(2025, 2, 27), rng.choice([0, 0, 1, 2, 3, 7, 12]), 5, rng.randint(1, 4))
        for _ in range(rng.randint(1, 12))
    ]  # fmt: skip
    con = warehouse.connect_memory()
    con.execute(
        """CREATE TEMP TABLE sc_lags (institution_code VARCHAR, report_kind VARCHAR, file_name VARCHAR,
        arrived_on DATE, due_from DATE, lag INTEGER, deadline INTEGER, lines BIGINT)"""
    )
    con.executemany("INSERT INTO sc_lags VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    one_by_one = con.execute(
        """WITH line AS (SELECT * FROM sc_lags, range(lines))
        SELECT institution_code, report_kind, count(*), count(*) FILTER (WHERE lag > deadline),
               any_value(deadline), median(lag), max(lag)
        FROM line GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    assert con.execute(TIMELINESS_SUMMARY_SQL).fetchall() == one_by_one


@pytest.mark.parametrize("seed", range(10))
def test_coverage_and_large_unreported_are_what_every_side_one_by_one_gives(seed):
    """The scorecard reads only the unreported ends of transfers and groups the rest before placing them; the
    figures equal those of every end of every transfer placed and summed one by one (ends with and without their
    own institution, placed by the account or by the counterparty code, days that pass a bar only with the
    reported ends included, a person's cross-border bar)."""
    import random
    from decimal import Decimal

    from pipelines.evaluation.institutions import COVERAGE_SQL, LARGE_UNREPORTED_SQL, UNREPORTED_SIDES_SQL

    rng = random.Random(seed)
    reporters = ["B1", "B2", "B3"]
    accounts = [f"A{i}" for i in range(8)]
    kinds = {account: rng.choice(["PERSON", "ORG"]) for account in accounts}
    placed_by_account = {account: rng.choice(reporters + ["X9"]) for account in rng.sample(accounts, 4)}
    placed_by_code = {"K1": "B2", "K2": "X8"}
    transfers = []
    for number in range(rng.randint(1, 40)):
        payer, payee = rng.sample(accounts, 2)
        out_present, in_present = rng.random() < 0.6, rng.random() < 0.6
        transfers.append({
            "payment_id": f"P{number}", "day": date(2025, 1, rng.randint(1, 3)),
            "txn_time": datetime(2025, 1, 1, 9, number % 60), "amount_cny": Decimal(rng.choice([90_000, 210_000, 260_000])),
            "method": rng.choice(["TRANSFER", "CROSS_BORDER"]), "payer_account": payer, "payee_account": payee,
            "payer_kind": kinds[payer], "payee_kind": kinds[payee], "payer_name": f"n{payer}", "payee_name": f"n{payee}",
            "out_present": out_present, "in_present": in_present,
            "out_institution": rng.choice(reporters) if out_present else None,
            "out_counterparty_code": rng.choice(["K1", "K2", None]), "out_txn_ref": f"O{number}" if out_present else None,
            "in_institution": rng.choice(reporters) if in_present else None,
            "in_counterparty_code": rng.choice(["K1", "K2", None]), "in_txn_ref": f"I{number}" if in_present else None,
        })  # fmt: skip
    bars = {"person_transfer": 500_000, "person_cross_border": 200_000, "org_transfer": 2_000_000}

    con = warehouse.connect_memory()
    con.execute(
        """CREATE TEMP TABLE sc_transfers (payment_id VARCHAR, day DATE, txn_time TIMESTAMP, amount_cny DECIMAL(18, 2),
        method VARCHAR, payer_account VARCHAR, payee_account VARCHAR, payer_kind VARCHAR, payee_kind VARCHAR,
        payer_name VARCHAR, payee_name VARCHAR, out_present BOOLEAN, in_present BOOLEAN, out_institution VARCHAR,
        out_counterparty_code VARCHAR, out_txn_ref VARCHAR, in_institution VARCHAR, in_counterparty_code VARCHAR,
        in_txn_ref VARCHAR)"""
    )
    con.executemany(f"INSERT INTO sc_transfers VALUES ({', '.join('?' * 19)})", [list(t.values()) for t in transfers])
    con.execute(
        "CREATE TEMP TABLE sc_account_institution AS SELECT * FROM (VALUES ('-', '-')) v(account_no, institution_code)"
    )
    con.executemany("INSERT INTO sc_account_institution VALUES (?, ?)", list(placed_by_account.items()))
    con.execute("CREATE TEMP TABLE sc_code_institution AS SELECT * FROM (VALUES ('-', '-')) v(code, institution_code)")
    con.executemany("INSERT INTO sc_code_institution VALUES (?, ?)", list(placed_by_code.items()))
    con.execute("CREATE TEMP TABLE sc_reporters AS SELECT unnest(?) AS institution_code", [reporters])
    con.execute(UNREPORTED_SIDES_SQL)
    con.execute(LARGE_UNREPORTED_SQL, bars)
    coverage = con.execute(COVERAGE_SQL).fetchall()
    large = con.execute("SELECT payment_id, institution_code, direction, day_total FROM sc_large_unreported").fetchall()

    sides = []
    for t in transfers:
        for direction, me, other, code in (("OUT", "payer", "in", "in"), ("IN", "payee", "out", "out")):
            own = "out" if direction == "OUT" else "in"
            account = t[f"{me}_account"]
            institution = (
                t[f"{own}_institution"]
                or placed_by_account.get(account)
                or placed_by_code.get(t[f"{code}_counterparty_code"])
            )
            sides.append((t, direction, account, t[f"{own}_present"], t[f"{other}_present"], institution))
    day_total: dict = {}
    cross_border: dict = {}
    for t, direction, account, _, _, _ in sides:
        key = (account, direction, t["day"])
        day_total[key] = day_total.get(key, 0) + t["amount_cny"]
        if t["method"] == "CROSS_BORDER":
            cross_border[key] = cross_border.get(key, 0) + t["amount_cny"]
    large_sides = []  # (side, its customer's day) of every end its own institution left out on a large day
    for side in sides:
        t, direction, account, own_present, _, institution = side
        key = (account, direction, t["day"])
        if own_present or institution not in reporters:
            continue
        if kinds[account] == "PERSON":
            large_day = (
                day_total[key] >= bars["person_transfer"] or cross_border.get(key, 0) >= bars["person_cross_border"]
            )
        else:
            large_day = day_total[key] >= bars["org_transfer"]
        if large_day:
            large_sides.append((side, key))
    expected_large = [(side[0]["payment_id"], side[5], side[1], day_total[key]) for side, key in large_sides]
    expected_coverage = []
    for code in sorted({side[5] for side in sides if side[5] in reporters}):
        mine = [side for side in sides if side[5] == code]
        unreported = [(side, key) for side, key in large_sides if side[5] == code]
        expected_coverage.append((
            code, sum(1 for side in mine if side[4]), sum(1 for side in mine if side[4] and not side[3]),
            len(unreported), sum((side[0]["amount_cny"] for side, _ in unreported), Decimal(0)),
            len({key for _, key in unreported}),
        ))  # fmt: skip
    assert sorted(large) == sorted(expected_large)
    assert coverage == expected_coverage
