"""G8–G13 over the whole graph: each shape planted in a random background of 5,000 accounts (with shops and
payrolls) is found without any sweep flag, and its near misses — out-of-order times, amounts off tolerance,
spread beyond the span — are not."""

from __future__ import annotations

import math
from datetime import time, timedelta
from pathlib import Path

import pytest

from detectors import DETECTORS, whole_graph
from detectors.base import Window
from detectors.neighbourhood import fill_table
from detectors.pack import load_rule_pack
from pipelines.warehouse.db import connect_memory
from tests.detectors.planted_shapes import RULE_OF_SHAPE, WINDOW, named_accounts, planted_world, score

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(scope="module")
def planted_db():
    world = planted_world()
    con = connect_memory()
    world.insert(con)
    yield world, con
    con.close()


@pytest.fixture(scope="module")
def planted(planted_db):
    """Every shape rule's alerts, the rules run as the runner runs them: sharing each span's edge table."""
    world, con = planted_db
    pack = load_rule_pack(RULES)
    alerts = {}
    with whole_graph.shared_edges(con):
        for rule_id in RULE_OF_SHAPE.values():
            rule = pack.rule(rule_id)
            alerts[rule_id] = DETECTORS[rule.detector].detect(con, rule, WINDOW)
    return world, alerts


def named_by(alerts) -> set[str]:
    return {name for alert in alerts for name in named_accounts(alert)}


def golden(world, shape):
    shapes = [p for p in world.planted if p.shape == shape and p.golden]
    assert shapes
    return shapes


def near_misses(world, shape):
    shapes = [p for p in world.planted if p.shape == shape and not p.golden]
    assert shapes
    return shapes


def assert_all_found(planted, shape):
    world, alerts = planted
    subjects = {alert.subject for alert in alerts[RULE_OF_SHAPE[shape]]}
    assert [p.name for p in golden(world, shape) if p.key not in subjects] == []


def assert_no_near_miss(planted, shape):
    world, alerts = planted
    named = named_by(alerts[RULE_OF_SHAPE[shape]])
    assert [(p.name, p.why) for p in near_misses(world, shape) if p.accounts & named] == []


@pytest.mark.parametrize("shape", list(RULE_OF_SHAPE))
def test_every_alert_names_a_planted_shape_of_its_kind(planted, shape):
    """No shop, payroll or random background account is alerted: precision 1 on the planted world."""
    world, alerts = planted
    figures = score(world, alerts, RULE_OF_SHAPE)[shape]
    assert figures["alerts"] == figures["golden"] and figures["precision"] == 1.0


def test_fan_in_bursts_are_found(planted):
    assert_all_found(planted, "fan_in")
    _, alerts = planted
    hub = next(a for a in alerts["G8"] if a.subject == "FI0_HUB")
    assert hub.metrics["counterparties"] >= 12 and hub.metrics["own_baseline"] < 3
    assert "个账户转入" in hub.reason_zh and hub.window_end - hub.window_start == timedelta(days=14)


def test_fan_in_spread_beyond_the_span_is_not(planted):
    assert_no_near_miss(planted, "fan_in")


def test_fan_out_bursts_are_found(planted):
    assert_all_found(planted, "fan_out")


def test_fan_out_spread_beyond_the_span_is_not(planted):
    assert_no_near_miss(planted, "fan_out")


def test_cycles_of_three_to_six_accounts_are_found_with_their_path(planted):
    assert_all_found(planted, "cycle")
    world, alerts = planted
    lengths = sorted(a.metrics["length"] for a in alerts["G10"])
    assert lengths == [3, 4, 4, 5, 6]
    repeated = next(a for a in alerts["G10"] if a.subject == "CY4_0")
    assert repeated.metrics["cycles"] == 3  # three disjoint rounds, not their mixtures
    six = next(a for a in alerts["G10"] if a.metrics["length"] == 6)
    times = [hop["time"] for hop in six.metrics["path"]]
    amounts = [hop["amount"] for hop in six.metrics["path"]]
    assert times == sorted(times) and amounts == sorted(amounts, reverse=True)
    assert six.reason_zh.count("→") == 6 and len(six.evidence) == 6


def test_cycles_out_of_order_off_amount_or_too_slow_are_not(planted):
    world, _ = planted
    assert {p.why for p in near_misses(world, "cycle")} == {"out_of_order", "amount_off", "spread", "small_once"}
    assert_no_near_miss(planted, "cycle")


def test_scatter_gather_is_found_with_every_path(planted):
    assert_all_found(planted, "scatter_gather")
    _, alerts = planted
    for alert in alerts["G11"]:
        assert alert.metrics["paths"] == 5 and alert.metrics["target"].endswith("_DST")
        for path in alert.metrics["path"]:
            assert path["first_time"] < path["second_time"]


def test_scatter_gather_out_of_order_off_amount_or_spread_is_not(planted):
    assert_no_near_miss(planted, "scatter_gather")


def test_gather_scatter_is_found(planted):
    assert_all_found(planted, "gather_scatter")
    _, alerts = planted
    for alert in alerts["G12"]:
        assert alert.metrics["senders"] >= 6 and alert.metrics["receivers"] >= 6
        assert alert.metrics["gather_from"] < alert.metrics["scatter_from"] <= alert.metrics["scatter_to"]


def test_gather_scatter_paid_out_first_short_or_spread_is_not(planted):
    assert_no_near_miss(planted, "gather_scatter")


def test_bipartite_blocks_are_found_once_each(planted):
    assert_all_found(planted, "bipartite")
    _, alerts = planted
    blocks = [(a.metrics["senders"], a.metrics["receivers"]) for a in alerts["G13"]]
    assert all(len(senders) == 4 and len(receivers) == 4 for senders, receivers in blocks)


def test_bipartite_sparse_small_or_spread_is_not(planted):
    assert_no_near_miss(planted, "bipartite")


def test_windows_step_by_half_a_span_on_a_calendar_grid_and_grow_linearly_with_the_run():
    """The newest window ends with the run, the earliest starts with it, the others end every 7 days on a grid
    that does not move with the run; so the next day's run has the same windows but its newest and earliest."""
    for days in (30, 90, 720):
        for shift in range(7):
            run = Window(WINDOW.as_of + timedelta(days=shift), days)
            windows = whole_graph.stepped_windows(run, 14)
            assert windows[0][2] == run.end and windows[-1][1] == run.start
            assert [k for k, _, _ in windows] == list(range(len(windows)))
            assert all(end - start == timedelta(days=14) for _, start, end in windows)
            assert all(end.date().toordinal() % 7 == 0 and end.time() == time.min for _, _, end in windows[1:-1])
            ends = sorted(end for _, _, end in windows)
            assert all(later - earlier <= timedelta(days=7) for earlier, later in zip(ends, ends[1:]))
            assert len(windows) <= math.ceil((days - 14) / 7) + 2
            next_day = whole_graph.stepped_windows(Window(run.as_of + timedelta(days=1), days), 14)
            bounds, next_bounds = {w[1:] for w in windows}, {w[1:] for w in next_day}
            assert len(next_bounds - bounds) <= 2 and len({w[1:] for w in windows[1:-1]} - next_bounds) <= 1
    assert whole_graph.stepped_windows(Window(WINDOW.as_of, 5), 14) == [
        (0, Window(WINDOW.as_of, 5).start, Window(WINDOW.as_of, 5).end)
    ]


def test_the_runner_runs_the_shape_rules_in_their_own_stage_after_the_sweep():
    """G8–G13 are the runner's "whole" stage: not run with the sweep (they would widen its flags) nor with the
    neighbourhood rules; and they never found a ring (shape rules)."""
    from detectors.rings import RingParams
    from pipelines.detection import runner

    pack = load_rule_pack(RULES)
    stages = {rule.rule_id: getattr(DETECTORS[rule.detector], "STAGE", "sweep") for rule in pack.rules}
    assert {rule_id for rule_id, stage in stages.items() if stage == "whole"} == set(RULE_OF_SHAPE.values())
    assert set(RULE_OF_SHAPE.values()) <= set(RingParams().shape_rules)
    assert '_run_stage(con, rules, "whole", window, seconds)' in Path(runner.__file__).read_text(encoding="utf-8")


class CountingConnection:
    """A DuckDB connection that counts the edge tables built through it."""

    def __init__(self, con):
        self.con, self.edge_builds = con, 0

    def execute(self, sql, *args):
        self.edge_builds += sql == whole_graph.EDGES_SQL
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_rules_of_one_span_share_one_edge_table_and_find_the_same(planted_db, planted):
    """Inside `shared_edges` the second rule of a span reads the first one's edge table (G8 and G9 both step
    14 days) and finds what it finds alone; a new span or run window builds again; afterwards the tables are gone."""
    world, con = planted_db
    pack = load_rule_pack(RULES)
    fan_out, scatter_gather = pack.rule("G9"), pack.rule("G11")
    counting = CountingConnection(con)
    with whole_graph.shared_edges(counting):
        DETECTORS["graph_fan"].detect(counting, pack.rule("G8"), WINDOW)
        alone_after_g8 = DETECTORS["graph_fan"].detect(counting, fan_out, WINDOW)
        assert counting.edge_builds == 1
        DETECTORS["graph_scatter_gather"].detect(counting, scatter_gather, WINDOW)
        assert counting.edge_builds == 2
        DETECTORS["graph_fan"].detect(counting, fan_out, Window(WINDOW.as_of, WINDOW.days - 1))
        assert counting.edge_builds == 3
    assert alone_after_g8 == planted[1]["G9"]
    assert con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('graph_edges', 'graph_window_days', 'graph_windows')"
    ).fetchone() == (0,)
    outside = CountingConnection(con)
    DETECTORS["graph_fan"].detect(outside, fan_out, WINDOW)
    DETECTORS["graph_fan"].detect(outside, fan_out, WINDOW)
    assert outside.edge_builds == 2


def test_a_payment_belongs_to_every_window_holding_it_by_its_time_not_only_its_day():
    """The day join finds a payment's windows; its exact time decides (windows need not start at midnight)."""
    con = connect_memory()
    try:
        run = Window(WINDOW.as_of, 30)
        stamps = [run.start, run.end - timedelta(microseconds=1), run.start + timedelta(days=7, hours=23)]
        fill_table(
            con,
            "payments",
            {
                "payment_id": [f"P{i}" for i in range(len(stamps))],
                "match_method": ["match_no"] * len(stamps),
                "txn_time": stamps,
                "amount_cny": [100] * len(stamps),
                "payer_account": ["A"] * len(stamps),
                "payee_account": ["B"] * len(stamps),
                "method": ["TRANSFER"] * len(stamps),
                "is_cash": [False] * len(stamps),
            },
        )
        whole_graph.fill_windows(con, run, 14)
        found = con.execute("SELECT e.k, e.txn_time FROM graph_edges e ORDER BY e.txn_time, e.k").fetchall()
        expected = sorted(
            (k, stamp)
            for stamp in stamps
            for k, start, end in whole_graph.stepped_windows(run, 14)
            if start <= stamp < end
        )
        assert sorted(found, key=lambda row: (row[1], row[0])) == sorted(expected, key=lambda row: (row[1], row[0]))
        assert len(found) > len(stamps)  # the windows overlap: a payment is in two of them
    finally:
        con.close()


def test_each_accounts_figures_per_window_count_payments_and_distinct_counterparties():
    """graph_account_windows: B is paid twice by A and once by C and pays D once, all in one 14-day run."""
    con = connect_memory()
    try:
        run = Window(WINDOW.as_of, 14)
        flows = [("A", "B", 100), ("A", "B", 50), ("C", "B", 150), ("B", "D", 100), ("D", "D", 7)]
        fill_table(
            con,
            "payments",
            {
                "payment_id": [f"P{i}" for i in range(len(flows))],
                "match_method": ["match_no"] * len(flows),
                "txn_time": [run.start + timedelta(hours=i) for i in range(len(flows))],
                "amount_cny": [amount for _, _, amount in flows],
                "payer_account": [payer for payer, _, _ in flows],
                "payee_account": [payee for _, payee, _ in flows],
                "method": ["TRANSFER"] * len(flows),
                "is_cash": [False] * len(flows),
            },
        )
        whole_graph.fill_windows(con, run, 14)
        rows = con.execute(
            "SELECT account, payments, senders, receivers, amount_in, amount_out FROM graph_account_windows "
            "ORDER BY account"
        ).fetchall()
        # D's payment to itself is no edge
        assert rows == [
            ("A", 2, 0, 1, None, 150.0),
            ("B", 4, 2, 1, 300.0, 100.0),
            ("C", 1, 0, 1, None, 150.0),
            ("D", 1, 1, 0, 100.0, None),
        ]
    finally:
        con.close()
