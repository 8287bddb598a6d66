"""Payments: the two report lines of one transfer become one row; near misses stay apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.ingest.load import ingest_paths
from pipelines.warehouse import db as warehouse
from pipelines.warehouse.parties import refresh_parties
from pipelines.warehouse.reconcile import rebuild_payments, update_payments

BANK_FILES = Path(__file__).resolve().parents[3] / "data_samples" / "bank_files"
HEADER = (
    "txn_ref,txn_time,account_no,account_name,customer_id_no,direction,amount,counterparty_account_no,"
    "counterparty_name,counterparty_id_no,method,match_no\n"
)
PAYER_ID, PAYEE_ID = "11010519491231002X", "91350100M000100Y43"


def write_report(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def payments(settings) -> list[tuple]:
    con = warehouse.connect(settings)
    try:
        return con.execute("""SELECT match_method, out_txn_id IS NOT NULL, in_txn_id IS NOT NULL, amount_cny,
            payer_account, payee_account, payer_id_no, payee_id_no, payer_kind, payee_kind, payment_id
            FROM payments ORDER BY txn_time, amount_cny, match_method""").fetchall()
    finally:
        con.close()


def test_payment_reported_by_both_banks_is_one_row_with_two_legs(settings):
    ingest_paths(
        settings,
        [BANK_FILES / "C1234533000011_20250301_LARGE.csv", BANK_FILES / "C2345633000022_20250301_BH.csv"],
        progress=False,
    )
    rows = payments(settings)
    by_amount = {float(row[3]): row for row in rows}
    assert len(rows) == 5  # 4 + 3 lines, two pairs
    assert by_amount[500000.0][:3] == ("match_no", True, True)
    assert by_amount[600000.0][:3] == ("tolerance", True, True)
    assert by_amount[2000000.0][:3] == ("one_leg", True, False)
    cash = by_amount[50000.0]
    assert cash[:3] == ("one_leg", True, False) and cash[5] is None  # cash paid out: no payee account


def test_two_leg_payment_takes_each_party_from_its_own_bank(settings, tmp_path):
    # The payer bank knows the payee only by account; the payee bank describes the payee fully.
    write_report(
        tmp_path / "BANKA_1_LARGE.csv",
        ["A1,2025-03-01 10:00:00,6222021234567890128,甲,11010519491231002X,OUT,100.00,P9,,,TRANSFER,M1"],
    )
    write_report(
        tmp_path / "BANKB_1_LARGE.csv",
        ["B1,2025-03-01 10:00:05,P9,乙公司,91350100M000100Y43,IN,100.00,6222021234567890128,甲,,TRANSFER,M1"],
    )
    ingest_paths(settings, [tmp_path], progress=False)
    [row] = payments(settings)
    assert row[:10] == ("match_no", True, True, 100, "6222021234567890128", "P9", PAYER_ID, PAYEE_ID, "PERSON", "ORG")


@pytest.mark.parametrize(
    "gap_minutes, amount_b, paired", [(9, "100.00", True), (11, "100.00", False), (1, "100.01", False)]
)
def test_tolerance_match_and_its_near_misses(settings, tmp_path, gap_minutes, amount_b, paired):
    write_report(tmp_path / "BANKA_1_LARGE.csv", ["A1,2025-03-01 10:00:00,ACC1,甲,,OUT,100.00,ACC2,乙,,TRANSFER,"])
    write_report(
        tmp_path / "BANKB_1_LARGE.csv",
        [f"B1,2025-03-01 10:{gap_minutes:02d}:00,ACC2,乙,,IN,{amount_b},ACC1,甲,,TRANSFER,"],
    )
    ingest_paths(settings, [tmp_path], progress=False)
    methods = sorted(row[0] for row in payments(settings))
    assert methods == (["tolerance"] if paired else ["one_leg", "one_leg"])


def test_each_line_is_used_once_and_payment_ids_are_stable(settings, tmp_path):
    write_report(
        tmp_path / "BANKA_1_LARGE.csv",
        [
            "A1,2025-03-01 10:00:00,ACC1,甲,,OUT,100.00,ACC2,乙,,TRANSFER,",
            "A2,2025-03-01 10:03:00,ACC1,甲,,OUT,100.00,ACC2,乙,,TRANSFER,",
        ],
    )
    write_report(tmp_path / "BANKB_1_LARGE.csv", ["B1,2025-03-01 10:02:00,ACC2,乙,,IN,100.00,ACC1,甲,,TRANSFER,"])
    ingest_paths(settings, [tmp_path], progress=False)
    first = payments(settings)
    assert sorted(row[0] for row in first) == ["one_leg", "tolerance"]
    con = warehouse.connect(settings)
    try:
        # B1 is closer to A2 (1 minute) than to A1 (2 minutes)
        paired = con.execute("""SELECT o.txn_ref FROM payments p JOIN txn o ON o.txn_id = p.out_txn_id
                                WHERE p.match_method = 'tolerance'""").fetchall()
        assert paired == [("A2",)]
        counts = rebuild_payments(con, settings)
        assert counts == {"one_leg": 1, "tolerance": 1}
        assert refresh_parties(con) == 2
        assert con.execute("SELECT account_no, n_txn FROM parties ORDER BY 1").fetchall() == [("ACC1", 2), ("ACC2", 1)]
    finally:
        con.close()
    assert payments(settings) == first


@pytest.mark.parametrize("mode", ["rebuild", "update"])
def test_a_pairing_that_fails_inside_the_transaction_reports_its_own_error_and_keeps_the_payments(
    settings, monkeypatch, mode
):
    """At 10M lines under a small memory limit the payments insert ran out of memory; the cleanup's DROP then met
    the aborted transaction and its TransactionException hid the out-of-memory error. Both ways of pairing (the
    whole of txn, or the lines a night touched) report the error itself."""
    from pipelines.warehouse import reconcile

    ingest_paths(settings, [BANK_FILES / "C1234533000011_20250301_LARGE.csv"], progress=False)
    before = payments(settings)
    # an error raised while the statement runs (as running out of memory is), not while it is bound
    monkeypatch.setattr(
        reconcile,
        "INSERT_PAYMENTS",
        "SELECT error('ran out while inserting part ' || CAST($part AS VARCHAR) || ' of ' || CAST($parts AS VARCHAR))"
        " FROM reconcile_legs",
    )
    con = warehouse.connect(settings)
    try:
        with pytest.raises(Exception) as raised:
            with warehouse.transaction(con):
                if mode == "rebuild":
                    rebuild_payments(con, settings)
                else:
                    con.execute("CREATE OR REPLACE TEMP TABLE touched_lines AS SELECT * FROM txn")
                    update_payments(con, settings)
        assert "ran out while inserting part 0" in str(raised.value)
    finally:
        con.close()
    assert payments(settings) == before


def test_payments_inserted_in_parts_are_those_inserted_at_once(settings, monkeypatch):
    """A large pairing inserts its payments in parts (to stay inside DuckDB's memory limit); the parts together
    are exactly the payments of one insert, pairs and single legs alike."""
    from pipelines.warehouse import reconcile

    ingest_paths(
        settings,
        [BANK_FILES / "C1234533000011_20250301_LARGE.csv", BANK_FILES / "C2345633000022_20250301_BH.csv"],
        progress=False,
    )
    at_once = payments(settings)
    monkeypatch.setattr(reconcile, "PAYMENTS_PER_PART", 2)
    con = warehouse.connect(settings)
    try:
        with warehouse.transaction(con):
            rebuild_payments(con, settings)
    finally:
        con.close()
    in_parts = payments(settings)
    assert len(at_once) > 2 * 2 and {row[0] for row in at_once} >= {"match_no", "one_leg"}
    assert in_parts == at_once
