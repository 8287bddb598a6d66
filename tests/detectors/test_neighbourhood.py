"""The flagged neighbourhood is read and built once per detect run: the rings grow G1–G7's graph rather than
load their own, and the grown graph is the one a fresh load of the rings' seeds would build."""

from __future__ import annotations

import pytest

from detectors import neighbourhood
from detectors.base import Window
from pipelines.detection import runner
from tests.builders import day, pay
from tests.pipelines.detection.test_runner import AS_OF, load, small_county

WINDOW = Window(as_of=AS_OF, days=90)


def graph_facts(nb: neighbourhood.Neighbourhood) -> tuple:
    """Everything a detector can read of a neighbourhood, independent of insertion order."""
    nodes = sorted((node, sorted(data.items())) for node, data in nb.graph.nodes(data=True))
    edges = sorted(
        (payer, payee, key, data["time"], data["amount"])
        for payer, payee, key, data in nb.graph.edges(keys=True, data=True)
    )
    return nb.seeds, nodes, edges


@pytest.mark.parametrize("hop2_cap", [neighbourhood.MAX_HOP2_PAYMENTS, 80])
def test_grown_graph_is_the_fresh_graph_of_the_wider_seeds(monkeypatch, hop2_cap):
    # at 80 the wider seeds' hop 2 drops 21 payments the narrower load had kept
    monkeypatch.setattr(neighbourhood, "MAX_HOP2_PAYMENTS", hop2_cap)
    con = load(small_county(seed=3))
    narrow, wide = ["COLL0", "BG3"], ["COLL0", "BG3", "HUB", "BG7", "ORG_SCHOOL", "NO_PAYMENTS"]
    with neighbourhood.shared_graph(con):
        neighbourhood.flag_accounts(con, narrow)
        first = neighbourhood.load(con, WINDOW)
        neighbourhood.flag_accounts(con, wide, table="ring_seeds")
        grown = neighbourhood.load(con, WINDOW, seed_table="ring_seeds")
        assert grown.graph is first.graph  # grown in place, not read again
    fresh = neighbourhood.load(con, WINDOW, seed_table="ring_seeds")  # outside: built from the warehouse
    assert fresh.graph is not grown.graph
    assert graph_facts(grown) == graph_facts(fresh)
    assert grown.graph.nodes["HUB"]["flagged"] and grown.graph.nodes["NO_PAYMENTS"]["kind"] is None


def test_a_detect_run_reads_its_flagged_neighbourhood_once(settings, pack, monkeypatch):
    rows = small_county(seed=3)
    # a large round among three accounts no sweep rule flags: G10's alert widens the rings' seeds
    rows += [pay(f"CY{hop}", f"CY{(hop + 1) % 3}", 3_000_000 * 0.97**hop, day(40 + hop)) for hop in range(3)]
    con = load(rows)
    loads, rows_read, rings_made = [], [], []
    real_load, real_add, real_rings = neighbourhood.load, neighbourhood._add_rows, runner.build_rings

    def spy_load(con, window, seed_table="flagged_accounts", hops=2):
        found = real_load(con, window, seed_table, hops)
        loads.append((window, hops, seed_table, found))
        return found

    def spy_add(graph, rows, seeds):
        rows_read.extend((id(graph), row[0]) for row in rows)
        return real_add(graph, rows, seeds)

    def spy_rings(*args):
        rings_made.append((args, real_rings(*args)))
        return rings_made[-1][1]

    monkeypatch.setattr(neighbourhood, "load", spy_load)
    monkeypatch.setattr(neighbourhood, "_add_rows", spy_add)
    monkeypatch.setattr(runner, "build_rings", spy_rings)
    rules = tuple(rule for rule in pack.rules if rule.rule_id in ("T1", "T11", "G1", "G2", "G10"))
    alerts, _, rings = runner._alerts_and_rings(settings, con, rules, WINDOW, {}, "duckdb", "run-1")

    assert {"CY0", "CY1", "CY2"} & {alert.subject for alert in alerts if alert.rule_id == "G10"}
    two_hops = [(seed_table, found) for window, hops, seed_table, found in loads if hops == 2 and window == WINDOW]
    flags = {found.seeds for seed_table, found in two_hops if seed_table == "flagged_accounts"}
    ring_seeds = {found.seeds for seed_table, found in two_hops if seed_table == "ring_seeds"}
    assert len(flags) == len(ring_seeds) == 1 and flags.pop() < ring_seeds.pop()  # the rings' seeds are wider
    assert len({id(found.graph) for _, found in two_hops}) == 1  # one graph for G1–G7 and the rings
    assert len(rows_read) == len(set(rows_read))  # no payment read twice into it
    # …and the rings are those a fresh load of the rings' seeds gives (the scope has ended)
    ((args, shared_rings),) = rings_made
    assert rings[0] and shared_rings == rings
    assert real_rings(*args) == rings


@pytest.mark.parametrize(("seed", "hop2_cap", "busy"), [(3, 80, 300), (4, 30, 25), (5, 10**6, 300)])
def test_the_neighbourhood_holds_the_payments_its_definition_names(monkeypatch, seed, hop2_cap, busy):
    """nb_rows is every window payment of a seed, plus the `hop2_cap` largest (amount, then id) of the payments
    of counterparties with at most `busy` payments in the window that touch no seed: worked out here payment by
    payment (fails when the hop-2 choice lets a seed's payment in, or keeps other than the largest)."""
    monkeypatch.setattr(neighbourhood, "MAX_HOP2_PAYMENTS", hop2_cap)
    monkeypatch.setattr(neighbourhood, "MAX_NEIGHBOUR_PAYMENTS", busy)
    con = load(small_county(seed=seed))
    seeds = {"COLL0", "BG3", "HUB"}
    neighbourhood.flag_accounts(con, seeds)
    neighbourhood._select(con, WINDOW, "flagged_accounts", 2)
    found = sorted(row[0] for row in con.execute("SELECT payment_id FROM nb_rows").fetchall())

    payments = con.execute(
        "SELECT payment_id, payer_account, payee_account, amount_cny FROM payments WHERE txn_time >= ? AND txn_time < ?",
        [WINDOW.start, WINDOW.end],
    ).fetchall()
    hop1 = [p for p in payments if p[1] in seeds or p[2] in seeds]
    ring1 = {end for p in hop1 for end in p[1:3] if end is not None and end not in seeds}
    counts: dict[str, int] = {}
    for p in payments:
        for end in p[1:3]:
            if end in ring1:
                counts[end] = counts.get(end, 0) + 1
    expanded = {account for account, n in counts.items() if n <= busy}
    hop2 = [p for p in payments if (p[1] in expanded or p[2] in expanded) and p[1] not in seeds and p[2] not in seeds]
    hop2 = sorted(hop2, key=lambda p: (-p[3], p[0]))[:hop2_cap]
    assert hop2, "the county gives the second hop payments to choose from"
    assert found == sorted(p[0] for p in hop1 + hop2)


def test_the_collector_is_off_while_graphs_are_built_and_back_on_after_the_run_even_when_a_rule_fails(
    settings, pack, monkeypatch
):
    import gc

    con = load(small_county(seed=3))
    seen = []
    real_add, real_rings = neighbourhood._add_rows, runner.build_rings

    def spy_add(graph, rows, seeds):
        seen.append(("graph", gc.isenabled()))
        return real_add(graph, rows, seeds)

    def spy_rings(*args):
        seen.append(("rings", gc.isenabled()))
        return real_rings(*args)

    monkeypatch.setattr(neighbourhood, "_add_rows", spy_add)
    monkeypatch.setattr(runner, "build_rings", spy_rings)
    rules = tuple(rule for rule in pack.rules if rule.rule_id in ("T1", "G1"))
    assert gc.isenabled()
    runner._alerts_and_rings(settings, con, rules, WINDOW, {}, "duckdb", "run-1")
    assert ("graph", False) in seen and ("rings", False) in seen
    assert not [where for where, enabled in seen if enabled]
    assert gc.isenabled()

    def failing_rings(*args):
        raise RuntimeError("rings failed")

    monkeypatch.setattr(runner, "build_rings", failing_rings)
    with pytest.raises(RuntimeError, match="rings failed"):
        runner._alerts_and_rings(settings, con, rules, WINDOW, {}, "duckdb", "run-2")
    assert gc.isenabled()


def test_keeping_the_run_window_empties_the_graphs_of_other_windows_and_keeps_its_own():
    con = load(small_county(seed=3))
    longer = Window(as_of=AS_OF, days=120)
    with neighbourhood.shared_graph(con):
        neighbourhood.flag_accounts(con, ["COLL0", "BG3"])
        run_graph = neighbourhood.load(con, WINDOW)
        other = neighbourhood.load(con, longer)
        before = graph_facts(run_graph)
        assert other.graph.number_of_edges() > 0 and other.outflows("COLL0")
        neighbourhood.keep_only_window(con, WINDOW)
        assert other.graph.number_of_nodes() == 0 and not other._out  # freed without a collection
        assert neighbourhood.load(con, WINDOW) is run_graph and graph_facts(run_graph) == before
        assert neighbourhood.load(con, longer) is not other  # read again if asked for
