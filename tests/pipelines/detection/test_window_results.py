"""Window results kept between runs: a run that evaluates only the windows whose days changed writes the alerts of
a run that evaluates every window, night after night of payments added and removed on random days."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import date

import pytest

from detectors import DETECTORS
from detectors.pack import load_rule_pack
from pipelines.detection.runner import run_detection
from pipelines.detection.window_results import rule_hash
from pipelines.warehouse.db import mark_changed_payments
from tests.builders import add_payments, day, pay
from tests.detectors.conftest import RULES
from tests.pipelines.detection.test_runner import small_county

ALERT_COLUMNS = (
    "rule_id, subject_kind, subject, window_start, window_end, metrics, evidence, score, reason_zh, reason_en"
)


def alerts_of(con, run_id: str) -> list[tuple]:
    return con.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE run_id = ? ORDER BY rule_id, subject", [run_id]
    ).fetchall()


def marked(con, payment_ids: list[str]) -> None:
    """What prepare records for payments that arrive or go."""
    con.execute("CREATE OR REPLACE TEMP TABLE night_ids AS SELECT unnest(?::VARCHAR[]) AS payment_id", [payment_ids])
    mark_changed_payments(con, "SELECT * FROM payments WHERE payment_id IN (SELECT payment_id FROM night_ids)")


def a_night(con, rng: random.Random, night: int, when: int | None = None) -> None:
    """Investors, many of them elderly, paying a new collector on one day (`when`, else a random one of the run);
    and one other day's payments gone."""
    hub = f"NEWCOLL{night}"
    when = rng.randint(0, 89) if when is None else when
    rows = [
        pay(
            f"N{night}INV{i}",
            hub,
            10_000 * rng.randint(1, 5),
            day(when, 9 + i % 10),
            payer_birth=date(1950, 1, 1) if i % 3 else date(1985, 1, 1),
            memo="返利" if i % 2 else None,
        )
        for i in range(rng.randint(15, 40))
    ]
    rows += [pay(hub, None, 5_000 * len(rows), day(when, 22))]
    marked(con, add_payments(con, rows))
    gone_day = rng.randint(0, 89)
    gone = [
        row[0]
        for row in con.execute(
            "SELECT payment_id FROM payments WHERE CAST(txn_time AS DATE) = ?", [day(gone_day, 0).date()]
        ).fetchall()
    ]
    marked(con, gone)
    con.execute("DELETE FROM payments WHERE payment_id IN (SELECT payment_id FROM night_ids)")


@pytest.mark.parametrize("seed", range(3))
def test_runs_keeping_unchanged_windows_write_what_evaluating_every_window_writes(settings, warehouse, seed):
    rng = random.Random(seed)
    add_payments(warehouse, small_county(seed))
    run_detection(settings, con=warehouse)
    for night in range(2):
        a_night(warehouse, rng, night)
        kept = run_detection(settings, con=warehouse)
        summary = json.loads(
            warehouse.execute("SELECT summary FROM runs WHERE run_id = ?", [kept.run_id]).fetchone()[0]
        )
        assert sum(summary["windows_kept"].values()) > 0, "some windows were not evaluated again"
        warehouse.execute("DELETE FROM window_results")
        every = run_detection(settings, con=warehouse)
        assert alerts_of(warehouse, kept.run_id) == alerts_of(warehouse, every.run_id), f"seed {seed}, night {night}"
    assert {row[0] for row in alerts_of(warehouse, every.run_id)} >= {"T1", "T6"}, "window-only rules fired"


@pytest.mark.parametrize("seed", range(2))
def test_next_day_nights_keep_what_the_night_before_found_in_their_common_windows(settings, warehouse, seed):
    """Every real night's lines are dated after the last night's, so the run window ends a day later: the rules'
    windows step back on a calendar grid, not from the run's end, and only the newest, the earliest and the ones
    holding a changed day are evaluated again (fails when the windows step back from the run's end: none kept)."""
    rng = random.Random(seed)
    add_payments(warehouse, small_county(seed))
    run_detection(settings, con=warehouse)
    for night in range(3):
        a_night(warehouse, rng, night, when=90 + night)
        kept = run_detection(settings, con=warehouse)
        assert kept.as_of == day(90 + night).date()
        summary = json.loads(
            warehouse.execute("SELECT summary FROM runs WHERE run_id = ?", [kept.run_id]).fetchone()[0]
        )
        # a_night also takes one day's payments away, so a few more windows than the newest and earliest change
        assert summary["windows_kept"].get("T1", 0) > 0 and summary["windows_kept"].get("G13", 0) > 0, summary
        warehouse.execute("DELETE FROM window_results")
        every = run_detection(settings, con=warehouse)
        assert alerts_of(warehouse, kept.run_id) == alerts_of(warehouse, every.run_id), f"seed {seed}, night {night}"


def test_a_run_with_nothing_changed_evaluates_no_window_only_rule_again(settings, warehouse, monkeypatch):
    add_payments(warehouse, small_county(1))
    first = run_detection(settings, con=warehouse)

    def not_again(con, rule, window):
        raise AssertionError(f"{rule.rule_id} evaluated again")

    for module in DETECTORS.values():
        if getattr(module, "WINDOW_ONLY", False):
            monkeypatch.setattr(module, "detect", not_again)
    second = run_detection(settings, con=warehouse)
    assert alerts_of(warehouse, second.run_id) == alerts_of(warehouse, first.run_id)


def test_the_rule_hash_follows_the_parameters_and_the_engine():
    rule = load_rule_pack(RULES).rule("T1")
    module = DETECTORS[rule.detector]
    changed = dataclasses.replace(rule, params=dataclasses.replace(rule.params, min_payers=rule.params.min_payers + 1))
    assert rule_hash(rule, module, "duckdb") == rule_hash(rule, module, "duckdb")
    assert rule_hash(changed, module, "duckdb") != rule_hash(rule, module, "duckdb")
    assert rule_hash(rule, module, "spark") != rule_hash(rule, module, "duckdb")


def test_whole_graph_rows_kept_per_window_give_the_alerts_of_evaluating_every_window():
    """G11 and G13 keep their SQL rows per stepped window: after a night that takes away the day a scatter-gather
    began on and pays a bipartite block again three weeks later, the run reading kept rows for the other windows
    gives exactly the alerts of evaluating every window (fails when the night's days are not recorded)."""
    from detectors import whole_graph
    from pipelines.detection.window_results import WindowResults
    from pipelines.warehouse.db import connect_memory
    from tests.detectors.planted_shapes import WINDOW, planted_world

    world = planted_world()
    con = connect_memory()
    world.insert(con)
    pack = load_rule_pack(RULES)
    rules = [pack.rule("G11"), pack.rule("G13")]

    def run(kept):
        with whole_graph.shared_edges(con, kept):
            return {rule.rule_id: DETECTORS[rule.detector].detect(con, rule, WINDOW) for rule in rules}

    first = WindowResults(con, "duckdb")
    before = run(first)
    first.write(con)

    def accounts_of(name: str) -> list[str]:
        (planted,) = [p for p in world.planted if p.name == name]
        return sorted(planted.accounts)

    (began,) = con.execute(
        "SELECT CAST(min(txn_time) AS DATE) FROM payments WHERE payer_account IN (SELECT unnest(?::VARCHAR[]))",
        [accounts_of("SG0")],
    ).fetchone()
    gone = [row[0] for row in con.execute(
        "SELECT payment_id FROM payments WHERE CAST(txn_time AS DATE) = ?", [began]).fetchall()]  # fmt: skip
    marked(con, gone)
    con.execute("DELETE FROM payments WHERE payment_id IN (SELECT payment_id FROM night_ids)")
    con.execute(
        """INSERT INTO payments SELECT * REPLACE (payment_id || 'again' AS payment_id,
                                                  txn_time + INTERVAL 21 DAY AS txn_time)
           FROM payments WHERE payer_account IN (SELECT unnest(?::VARCHAR[])) AND txn_time + INTERVAL 21 DAY < ?""",
        [accounts_of("BP0"), WINDOW.end],
    )
    marked(
        con,
        [row[0] for row in con.execute("SELECT payment_id FROM payments WHERE payment_id LIKE '%again'").fetchall()],
    )

    kept = WindowResults(con, "duckdb")
    after = run(kept)
    windows = {rule.rule_id: len(whole_graph.stepped_windows(WINDOW, rule.params.span_days)) for rule in rules}
    assert all(0 < kept.reused[rule_id] < windows[rule_id] for rule_id in windows), (kept.reused, windows)
    every = run(None)
    assert after == every
    assert after != before, "the night changed what the rules find"
