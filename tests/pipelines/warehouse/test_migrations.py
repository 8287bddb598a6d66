"""A warehouse made by an earlier version is brought to the current schema when opened, nothing lost."""

from __future__ import annotations

from pathlib import Path

from pipelines.ingest.load import ingest_paths
from pipelines.warehouse import db as warehouse
from pipelines.warehouse.prepare import pending_files, prepare_warehouse

BANK_FILES = Path(__file__).resolve().parents[3] / "data_samples" / "bank_files"
LEG_COLUMNS = (
    "out_institution",
    "out_counterparty_institution",
    "out_txn_ref",
    "in_institution",
    "in_counterparty_institution",
    "in_txn_ref",
)


def test_payments_made_before_the_leg_columns_are_rebuilt_with_them_by_the_next_prepare(settings):
    ingest_paths(
        settings,
        [BANK_FILES / "C1234533000011_20250301_LARGE.csv", BANK_FILES / "C2345633000022_20250301_BH.csv"],
        progress=False,
    )
    con = warehouse.connect(settings)
    try:
        current = con.execute("SELECT * FROM payments ORDER BY payment_id").fetchall()
        # the warehouse as schema version 5 left it
        for column in LEG_COLUMNS:
            con.execute(f"ALTER TABLE payments DROP COLUMN {column}")
        # the tables of versions 7 and 8
        con.execute("DROP TABLE feature_window; DROP TABLE changed_accounts; DROP TABLE window_results")
        con.execute("DROP TABLE changed_days")
        con.execute("DELETE FROM schema_version WHERE version >= 6")
    finally:
        con.close()

    con = warehouse.connect(settings)
    try:
        assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == warehouse.SCHEMA_VERSION
        assert con.execute(f"SELECT count({LEG_COLUMNS[0]}) FROM payments").fetchone()[0] == 0
        assert pending_files(con) == 2
        assert prepare_warehouse(con, settings).mode == "rebuild"
        assert con.execute("SELECT * FROM payments ORDER BY payment_id").fetchall() == current
        both_legs = con.execute(
            "SELECT out_institution, in_institution, out_txn_ref IS NOT NULL, in_txn_ref IS NOT NULL FROM payments "
            "WHERE out_txn_id IS NOT NULL AND in_txn_id IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    assert both_legs and set(both_legs) == {("C1234533000011", "C2345633000022", True, True)}
