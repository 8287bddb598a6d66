"""Ingest of the hand-made bank files (data_samples/bank_files): counts, reasons, idempotence, all-or-nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.errors import BadFileError
from pipelines.ingest import load
from pipelines.ingest.load import ingest_file, ingest_paths
from pipelines.warehouse import db as warehouse

BANK_FILES = Path(__file__).resolve().parents[3] / "data_samples" / "bank_files"
BAD_ROWS = "C3456733000033_20250312_bad_rows_LARGE.csv"
RESUBMIT = "C1234533000011_20250310_resubmit_LARGE.csv"
TABLES = ("files", "txn", "txn_versions", "quarantine", "payments", "parties")

# file → (rows read, loaded, quarantined, replaced, duplicates, warned), counted by hand from the files
EXPECTED = {
    "C1234533000011_20250301_LARGE.csv": (4, 4, 0, 0, 0, 0),
    "C1234533000011_20250305_可疑.xlsx": (2, 2, 0, 0, 0, 0),
    RESUBMIT: (2, 1, 0, 1, 1, 0),
    "C2345633000022_20250301_BH.csv": (3, 3, 0, 0, 0, 0),
    "C3456733000033_20250302_SUSPICIOUS.csv": (3, 3, 0, 0, 0, 0),
    BAD_ROWS: (14, 4, 10, 0, 0, 3),
    "bank_b_bh_flat.xml": (2, 2, 0, 0, 0, 0),
    "bank_c_bs_nested.xml": (3, 3, 0, 0, 0, 0),
}
BAD_ROW_REASONS = {
    (5, "account_name", "missing_field"),
    (6, "txn_time", "bad_time"),
    (7, "txn_time", "future_time"),
    (8, "amount", "bad_amount"),
    (9, "amount", "non_positive_amount"),
    (10, "direction", "bad_direction"),
    (11, "report_kind", "bad_report_kind"),
    (12, "institution_code", "bad_institution_code"),
    (13, "txn_ref", "duplicate_in_file"),
    (14, "line", "bad_csv_line"),
}


def snapshot(settings) -> dict[str, list]:
    con = warehouse.connect(settings)
    try:
        return {table: sorted(map(repr, con.execute(f"SELECT * FROM {table}").fetchall())) for table in TABLES}
    finally:
        con.close()


@pytest.fixture
def loaded(settings):
    results = ingest_paths(settings, [BANK_FILES], progress=False)
    return settings, {result.file_name: result for result in results}


def test_every_sample_file_loads_with_hand_counted_figures(loaded):
    _, results = loaded
    assert set(results) == set(EXPECTED)
    for name, expected in EXPECTED.items():
        result = results[name]
        assert result.status == "loaded", (name, result.error)
        figures = (
            result.rows_read,
            result.loaded,
            result.quarantined,
            result.replaced,
            result.duplicates,
            result.warned,
        )
        assert figures == expected, name


def test_bad_rows_are_quarantined_with_file_row_field_and_good_rows_load(loaded):
    settings, _ = loaded
    con = warehouse.connect(settings)
    held = con.execute("SELECT file_name, row_no, field, reason_code, raw_row FROM quarantine").fetchall()
    loaded_rows = con.execute(
        "SELECT row_no, warnings FROM txn WHERE txn_ref LIKE 'C0312-%' ORDER BY row_no"
    ).fetchall()
    con.close()
    assert {name for name, *_ in held} == {BAD_ROWS}
    assert {(row, field, code) for _, row, field, code, _ in held} == BAD_ROW_REASONS
    assert all(raw_row for *_, raw_row in held)
    assert loaded_rows == [(2, ["bad_id_checksum"]), (3, ["unknown_currency"]), (4, ["bad_card_luhn"]), (15, [])]


def test_loading_again_changes_no_count(loaded, tmp_path):
    settings, _ = loaded
    before = snapshot(settings)
    again = ingest_paths(settings, [BANK_FILES], progress=False)
    assert {result.status for result in again} == {"duplicate_file"}
    # Same rows in a file with other bytes: every row is a duplicate, nothing is added.
    copy = tmp_path / "C2345633000022_20250301copy_BH.csv"
    copy.write_bytes((BANK_FILES / "C2345633000022_20250301_BH.csv").read_bytes() + b"\n")
    [result] = ingest_paths(settings, [copy], progress=False)
    assert (result.status, result.loaded, result.duplicates, result.replaced) == ("loaded", 0, 3, 0)
    after = snapshot(settings)
    assert {table: rows for table, rows in after.items() if table != "files"} == {
        table: rows for table, rows in before.items() if table != "files"
    }


def test_resubmitted_row_replaces_and_is_recorded(loaded):
    settings, results = loaded
    con = warehouse.connect(settings)
    current = con.execute("SELECT amount, file_id FROM txn WHERE txn_ref = 'A20250301004'").fetchall()
    versions = con.execute(
        "SELECT amount, replaced_by_file, replaced_by_row FROM txn_versions WHERE txn_ref = 'A20250301004'"
    ).fetchall()
    con.close()
    resubmit_id = results[RESUBMIT].file_id
    assert [(float(amount), file_id) for amount, file_id in current] == [(502000.0, resubmit_id)]
    assert [(float(amount), file_id, row) for amount, file_id, row in versions] == [(520000.0, resubmit_id, 3)]


@pytest.mark.parametrize("failing_step", ["quarantine", "versions", "txn"])
def test_failure_mid_file_leaves_the_warehouse_as_before(settings, monkeypatch, tmp_path, failing_step):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("C1234533000011_20250301_LARGE.csv", "C2345633000022_20250301_BH.csv"):
        shutil.copy(BANK_FILES / name, folder)
    ingest_paths(settings, [folder], progress=False)
    # One file that writes at every step: a replaced row, a quarantined row, new rows.
    mixed = tmp_path / "C1234533000011_20250311_mixed_LARGE.csv"
    lines = (BANK_FILES / RESUBMIT).read_text(encoding="utf-8").splitlines()
    mixed.write_text(
        "\n".join(
            lines
            + [lines[-1].replace("A20250301004", "A20250311001").replace("2025-03-01 16:00:00", "bad time")]
            + [lines[-1].replace("A20250301004", "A20250311002")]
        )
        + "\n",
        encoding="utf-8",
    )
    before = snapshot(settings)

    def crash(step):
        if step == failing_step:
            raise RuntimeError(f"injected failure after {step}")

    monkeypatch.setattr(load, "after_step", crash)
    con = warehouse.connect(settings)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            ingest_file(con, settings, mixed)
    finally:
        con.close()
    assert snapshot(settings) == before
    monkeypatch.undo()
    [result] = ingest_paths(settings, [mixed], progress=False)
    assert (result.status, result.loaded, result.replaced, result.quarantined, result.duplicates) == (
        "loaded",
        2,
        1,
        1,
        1,
    )


def test_values_from_every_format_are_read_as_written(loaded):
    settings, _ = loaded
    con = warehouse.connect(settings)
    rows = {
        ref: row
        for ref, *row in con.execute("""
        SELECT txn_ref, institution_code, report_kind, account_name, customer_phone, amount, memo, suspicion_code,
               txn_time, direction, customer_kind, customer_birth, account_opened, is_cash
        FROM txn""").fetchall()
    }
    con.close()
    # GB18030 CSV: Chinese text intact, slash dates, 收/付
    assert rows["C0302001"][:2] == ["C3456733000033", "SUSPICIOUS"]
    assert rows["C0302001"][5] == "高息理财 月息2分" and str(rows["C0302001"][7]) == "2025-03-02 09:00:00"
    # XLSX: typed cells read as text; the amount keeps its cents
    assert float(rows["A20250305002"][4]) == 80000.5 and str(rows["A20250305002"][7]) == "2025-03-05 11:45:00"
    # nested XML: institution from the header block, customer and account facts from enclosing blocks
    nested = rows["C0304002"]
    assert nested[:4] == ["C3456733000033", "SUSPICIOUS", "吴六", "13900000006"]
    assert nested[6] == "SC0101" and str(nested[11]) == "2024-01-05" and nested[8] == "IN"
    assert rows["C0304003"][6] == "SC0103"  # the record's own STCR wins over the header's
    assert rows["C0304001"][5] == "理财；月息2分"
    # flat XML: kind from the PHTR root, remarks joined
    assert rows["B0303-0001"][:2] == ["C2345633000022", "LARGE"] and rows["B0303-0001"][5] == "往来款；第二笔"
    # report-code CSV with BOM: TSDR 01 is IN; the customer is an organisation
    assert rows["B0301-0001"][8:10] == ["IN", "ORG"]
    assert str(rows["A20250301001"][10]) == "1952-03-14" and rows["A20250301003"][12] is True


def test_gb18030_file_that_starts_in_ascii_is_still_read(settings, tmp_path):
    path = tmp_path / "C3456733000033_late_LARGE.csv"
    header = "txn_ref,txn_time,account_no,account_name,direction,amount,memo\n"
    ascii_rows = "".join(
        f"R{n:06d},2025-03-01 10:00:00,A{n},Zhang,OUT,100.00,plain text padding row\n" for n in range(2000)
    )
    path.write_bytes((header + ascii_rows + "R999999,2025-03-01 10:00:00,B1,王五,IN,5.00,利息\n").encode("gb18030"))
    [result] = ingest_paths(settings, [path], progress=False)
    assert (result.status, result.loaded) == ("loaded", 2001), result.error
    con = warehouse.connect(settings)
    assert con.execute("SELECT account_name, memo FROM txn WHERE txn_ref = 'R999999'").fetchall() == [("王五", "利息")]
    con.close()


def test_unknown_columns_are_reported_and_duplicate_columns_refused(settings, tmp_path):
    extra = tmp_path / "C1234533000011_x_LARGE.csv"
    extra.write_text(
        "txn_ref,交易时间,账号,户名,收付标志,交易金额,网点备注\nT1,2025-03-01 10:00:00,A1,甲,付,1.00,x\n",
        encoding="utf-8",
    )
    [result] = ingest_paths(settings, [extra], progress=False)
    assert result.loaded == 1 and "网点备注" in " ".join(result.notes)
    twice = tmp_path / "C1234533000011_y_LARGE.csv"
    twice.write_text("txn_ref,业务标识号,交易时间,账号,户名,收付标志,交易金额\n", encoding="utf-8")
    con = warehouse.connect(settings)
    try:
        with pytest.raises(BadFileError, match="txn_ref"):
            ingest_file(con, settings, twice)
    finally:
        con.close()


def test_kind_and_institution_come_from_name_else_options(settings, tmp_path):
    plain = tmp_path / "report.csv"
    plain.write_text(
        "txn_ref,txn_time,account_no,account_name,direction,amount\nT1,2025-03-01 10:00:00,A1,甲,IN,1\n",
        encoding="utf-8",
    )
    [failed] = ingest_paths(settings, [plain], progress=False)
    assert failed.status == "failed" and "--kind" in failed.error
    [result] = ingest_paths(settings, [plain], kind="BS", institution="C9999900000099", progress=False)
    assert result.status == "loaded", result.error
    con = warehouse.connect(settings)
    assert con.execute("SELECT report_kind, institution_code FROM txn").fetchall() == [("SUSPICIOUS", "C9999900000099")]
    con.close()


def test_quarantine_list_shows_reasons_with_numbers_masked(loaded, capsys):
    settings, _ = loaded
    assert main(["--home", str(settings.home), "quarantine", "list", "--json", "--limit", "100"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(item["row_no"], item["field"], item["reason_code"]) for item in listed} == BAD_ROW_REASONS
    line = next(item["raw_value"] for item in listed if item["field"] == "line")
    assert "C0312-12" in line and "330782194805050054" not in line and "330782********0054" in line
    assert main(["--home", str(settings.home), "quarantine", "list", "--file", BAD_ROWS]) == 0
    table = capsys.readouterr().out
    assert "bad_time" in table and "原因" in table and "共 10 条" in table


def test_cells_lose_surrounding_spaces_of_every_width_but_keep_inner_ones(settings, tmp_path):
    path = tmp_path / "C1234533000011_spaces_LARGE.csv"
    path.write_text(
        "txn_ref,txn_time,account_no,account_name,direction,amount,memo\n"
        "  T1 ,2025-03-01 10:00:00,\u3000A1\u3000,\u00a0张 三\u00a0, IN,  1.00 ,\t月息 2分\t\n"
        "T2,2025-03-01 11:00:00,A2,李四,OUT,2.00,   \n",
        encoding="utf-8",
    )
    [result] = ingest_paths(settings, [path], progress=False)
    assert (result.status, result.loaded, result.quarantined) == ("loaded", 2, 0), result.error
    con = warehouse.connect(settings)
    rows = con.execute(
        "SELECT txn_ref, account_no, account_name, direction, amount, memo FROM txn ORDER BY 1"
    ).fetchall()
    con.close()
    # A tab is not a space: it stays, as the bank wrote it.
    assert [row[:4] + (float(row[4]), row[5]) for row in rows] == [
        ("T1", "A1", "张 三", "IN", 1.0, "\t月息 2分\t"),
        ("T2", "A2", "李四", "OUT", 2.0, None),
    ]


def test_same_row_sent_again_in_another_time_format_is_a_copy_and_a_changed_one_replaces(settings, tmp_path):
    header = "txn_ref,txn_time,account_no,account_name,direction,amount,memo\n"
    first = tmp_path / "C1234533000011_first_LARGE.csv"
    first.write_text(
        header + "T1,2025-03-01 10:00:00,A1,张三,IN,1.00,x\nT2,2025-03-01 11:00:00,A2,李四,OUT,2.00,y\n",
        encoding="utf-8",
    )
    again = tmp_path / "C1234533000011_again_LARGE.csv"
    again.write_text(
        header + "T1,20250301100000,A1,张三,in,1,x\nT2,2025-03-01 11:00:00,A2,李四,OUT,2.00,changed\n", encoding="utf-8"
    )
    ingest_paths(settings, [first], progress=False)
    [result] = ingest_paths(settings, [again], progress=False)
    assert (result.loaded, result.duplicates, result.replaced) == (1, 1, 1), result
    con = warehouse.connect(settings)
    assert con.execute("SELECT txn_ref, memo FROM txn ORDER BY 1").fetchall() == [("T1", "x"), ("T2", "changed")]
    assert con.execute("SELECT txn_ref, memo FROM txn_versions").fetchall() == [("T2", "y")]
    con.close()


def test_a_warehouse_from_schema_2_moves_to_3_keeping_its_rows(settings):
    settings.ensure_folders()
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for version, sql in warehouse.MIGRATIONS[:2]:
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, current_timestamp)", [version])
    con.execute("""INSERT INTO txn (txn_id, file_id, row_no, report_kind, institution_code, txn_ref, txn_time,
        txn_date, account_no, account_name, direction, amount, currency, method, is_cash, warnings, row_hash,
        loaded_at) VALUES ('t1', 'f1', 2, 'LARGE', 'C1', 'R1', '2025-03-01 10:00:00', '2025-03-01', 'A1', '甲',
        'IN', 5.00, 'CNY', 'ONLINE', false, [], 'old-hash', '2025-03-02 00:00:00')""")
    con.close()
    con = warehouse.connect(settings)
    try:
        assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == warehouse.SCHEMA_VERSION >= 3
        assert "row_hash" not in {row[1] for row in con.execute("PRAGMA table_info('txn')").fetchall()}
        assert con.execute("SELECT txn_ref, account_no, amount FROM txn").fetchall() == [("R1", "A1", 5)]
    finally:
        con.close()
