"""Ring-level backtest: a scheme is found when one ring holds its hub and most of its collectors."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.evaluation.ring_backtest import ring_results
from pipelines.warehouse.db import connect_memory


@pytest.fixture
def con():
    connection = connect_memory()
    connection.execute(
        "INSERT INTO runs (run_id, kind, started_at, status) VALUES ('r1', 'detect', ?, 'ok')", [datetime(2025, 5, 1)]
    )
    yield connection
    connection.close()


def ring(con, ring_id: str, hub: str, members: dict[str, str]) -> None:
    con.execute(
        """INSERT INTO rings VALUES (?, 'r1', ?, [], [], [], [], ?, ?, 0, 0, 0, 0, [], 0, [])""",
        [ring_id, hub, datetime(2025, 1, 1), datetime(2025, 5, 1)],
    )
    for account, role in {hub: "hub", **members}.items():
        con.execute("INSERT INTO ring_members VALUES (?, 'r1', ?, ?)", [ring_id, account, role])


def test_found_missed_merged_and_stray_rings(con, tmp_path):
    truth = tmp_path / "accounts.csv"
    truth.write_text(
        "account_no,scheme_id,typology,role\n"
        "H1,S01,interest_payout,hub\nC1,S01,pass_through,collector\nC2,S01,pass_through,collector\n"
        "C3,S01,pass_through,collector\nI1,S01,interest_payout,investor\n"
        "H2,S02,pass_through,hub\nD1,S02,pass_through,collector\nD2,S02,pass_through,collector\n"
        "H3,S03,cash_out,hub\n",
        encoding="utf-8",
    )
    (tmp_path / "schemes.csv").write_text("scheme_id,kind\nS01,ponzi\nS02,collectors\nS03,cashout\n")
    ring(con, "ring1", "H1", {"C1": "collector", "C2": "collector", "I1": "investor"})
    ring(con, "ring2", "H2", {"D1": "collector", "H3": "other"})  # half the collectors is not most
    ring(con, "ring3", "SHOP", {"I1": "investor"})  # a shop an investor paid: not a scheme
    rows, table = ring_results(con, truth)
    by_scheme = {row["scheme_id"]: row for row in rows}
    assert by_scheme["S01"]["found"] and by_scheme["S01"]["collectors_in_ring"] == 2
    assert not by_scheme["S02"]["found"] and by_scheme["S02"]["hub_in_ring"]
    assert by_scheme["S03"]["found"] and by_scheme["S03"]["ring_shared_with"] == ["S02"]
    assert [row["ring_id"] for row in rows if row["scheme_id"] is None] == ["ring3"]
    assert "found 2 of 3 schemes; 3 rings, 1 not schemes" in table
    assert by_scheme["S01"]["kind"] == "ponzi"
