"""Rings: a hand-built scheme becomes one ring with the right hub and roles; stray alerts make no ring."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date

import networkx as nx
import pytest

from detectors import rings as rings_module
from detectors.neighbourhood import Neighbourhood
from detectors.rings import RingParams, build_rings
from pipelines.detection.runner import write_rings
from pipelines.warehouse.actors import resolve_actors
from pipelines.warehouse.db import connect_memory
from tests.builders import add_parties, party
from tests.detectors.graph_payments import T0, WINDOW, Payments, days


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def alert(alert_id: str, rule_id: str, typology: str, subject: str, score: float = 1.0) -> dict:
    return {
        "alert_id": alert_id,
        "rule_id": rule_id,
        "typology": typology,
        "subject_kind": "account",
        "subject": subject,
        "score": score,
    }


def scheme(con) -> None:
    book = Payments()
    for i in range(40):
        born = date(1950, 1, 1) if i % 4 == 0 else date(1980, 1, 1)  # 10 of 40 aged 60+
        book.person(f"INV{i}", birth=born, region="330782" if i % 2 else "510104")
        collector = f"COL{i % 3}"
        book.pay(f"INV{i}", collector, 50_000, T0 + days(i % 10))
        for k in range(1, 4):
            book.pay("COHUB", f"INV{i}", 1_000, T0 + days(i % 10 + 30.4 * k))
    for c in range(3):
        for k in range(10):
            book.pay(f"COL{c}", "COHUB", 60_000, T0 + days(k + 0.1))
    for k in range(4):
        book.pay("COHUB", "PROMO1", 8_000, T0 + days(10 + k))
        book.pay("COHUB", "PROMO2", 6_000, T0 + days(11 + k))
    book.pay("COHUB", "CTRL", 700_000, T0 + days(20))
    book.pay("COHUB", None, 300_000, T0 + days(21))  # cash-out
    # Unrelated flagged accounts: one with a single weak rule, one with two rules of its own.
    for i in range(5):
        book.pay(f"NIGHT{i}", "LONER", 3_000, T0 + days(i))
        book.pay(f"SHOPPER{i}", "TWORULES", 3_000, T0 + days(i))
    book.insert(con)
    add_parties(
        con,
        [
            party("COHUB", holder_id_no="91330782MA0000000X", legal_rep_id_no="ID-CTRL", institution_code="B1"),
            party("CTRL", holder_id_no="ID-CTRL", institution_code="B2"),
        ],
    )
    resolve_actors(con)


ALERTS = [
    alert("a1", "T1", "fan_in", "COHUB", 3.0),
    alert("a2", "T3", "interest_payout", "COHUB", 2.5),
    alert("a3", "T2", "pass_through", "COL0"),
    alert("a4", "T2", "pass_through", "COL1", 1.2),
    alert("a5", "T8", "night_activity", "LONER"),
    alert("a6", "T4", "round_amounts", "TWORULES"),
    alert("a7", "T5", "memo_keywords", "TWORULES"),
]


def test_scheme_is_one_ring_with_hub_and_roles(con):
    scheme(con)
    rings, members = build_rings(con, "run1", ALERTS, WINDOW)
    by_hub = {ring["hub_account"]: ring for ring in rings}
    assert set(by_hub) == {"COHUB", "TWORULES"}
    ring = by_hub["COHUB"]
    assert ring["ring_id"] == hashlib.md5(b"COHUB").hexdigest()
    roles = {m["account_no"]: m["role"] for m in members if m["ring_id"] == ring["ring_id"]}
    assert roles["COHUB"] == "hub"
    assert [a for a, r in roles.items() if r == "collector"] == ["COL0", "COL1", "COL2"]  # COL2 was not flagged
    assert roles["CTRL"] == "controller"
    assert roles["PROMO1"] == roles["PROMO2"] == "promoter"
    assert sum(role == "investor" for role in roles.values()) == 40
    assert ring["individual_payers"] == 40
    assert ring["elderly_share"] == pytest.approx(0.25)
    assert ring["provinces"] == ["33", "51"]
    assert ring["total_in"] == pytest.approx(40 * 50_000)
    assert ring["total_out"] == pytest.approx(120 * 1_000 + 4 * 14_000 + 700_000 + 300_000)
    assert ring["typologies"] == ["fan_in", "interest_payout", "pass_through"]
    assert ring["alert_ids"] == ["a1", "a2", "a3", "a4"]
    assert ring["score"] == pytest.approx(3.0 + 2.5 + 1.2)  # best T2 score counted once
    assert "LONER" not in roles


def test_evidence_is_bounded_and_keeps_the_strongest_flows(con):
    scheme(con)
    rings, _ = build_rings(con, "run1", ALERTS, WINDOW, RingParams(max_evidence=12, investor_sample=4))
    ring = next(r for r in rings if r["hub_account"] == "COHUB")
    assert len(ring["evidence_payments"]) == 12
    amounts = dict(con.execute("SELECT payment_id, amount_cny FROM payments").fetchall())
    assert max(amounts[p] for p in ring["evidence_payments"]) == 700_000
    assert sum(amounts[p] == 50_000 for p in ring["evidence_payments"]) == 4


class PassCountingFlows(defaultdict):
    """The neighbourhood's pair flows, counting the passes over all of them."""

    passes = 0

    def __iter__(self):
        PassCountingFlows.passes += 1
        return super().__iter__()

    def items(self):
        PassCountingFlows.passes += 1
        return super().items()


def test_the_neighbourhoods_pairs_are_walked_once_a_run_not_once_a_ring(con, monkeypatch):
    # A ring's evidence reads the pairs among its own accounts: a pass over every pair of the flagged
    # neighbourhood per ring grew with rings × neighbourhood (issue 16).
    scheme(con)
    real = rings_module._pair_flows
    monkeypatch.setattr(rings_module, "_pair_flows", lambda graph: PassCountingFlows(float, real(graph)))
    PassCountingFlows.passes = 0
    rings, _ = build_rings(con, "run1", ALERTS, WINDOW, RingParams(max_evidence=12, investor_sample=4))
    assert len(rings) == 2
    assert PassCountingFlows.passes == 1  # the collector networks' one look at every payer
    ring = next(r for r in rings if r["hub_account"] == "COHUB")
    assert len(ring["evidence_payments"]) == 12


def test_a_rings_evidence_does_not_depend_on_the_order_payments_were_loaded_in():
    # Issue 16: pair totals summed in load order (0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1 in floats) put two pairs
    # of equal totals in either order; DuckDB returns the neighbourhood unordered, so runs differed.
    payments = [("HUB", "A", "a1", 0.1), ("HUB", "A", "a2", 0.2), ("HUB", "A", "a3", 0.3)]
    payments += [("HUB", "B", "b1", 0.3), ("HUB", "B", "b2", 0.2), ("HUB", "B", "b3", 0.1)]
    roles = {"HUB": "hub", "A": "other", "B": "other"}
    evidence = []
    for loaded in (payments, payments[::-1]):
        graph = nx.MultiDiGraph()
        for payer, payee, key, amount in loaded:
            graph.add_edge(payer, payee, key=key, time=T0, amount=amount)
        flows = rings_module._pair_flows(graph)
        assert flows[("HUB", "A")] == flows[("HUB", "B")] == 0.6
        nb = Neighbourhood(graph, frozenset(roles), WINDOW)
        evidence.append(rings_module._evidence(nb, roles, flows, RingParams()))
    assert evidence[0] == evidence[1] == ["b1", "b2", "b3", "a3", "a2", "a1"]


def test_ring_id_is_stable_across_runs(con):
    scheme(con)
    first, _ = build_rings(con, "run1", ALERTS, WINDOW)
    second, _ = build_rings(con, "run2", list(reversed(ALERTS)), WINDOW)
    assert sorted(r["ring_id"] for r in first) == sorted(r["ring_id"] for r in second)


def test_rows_fit_the_warehouse_tables(con):
    scheme(con)
    write_rings(con, build_rings(con, "run1", ALERTS, WINDOW))
    assert con.execute("SELECT count(*) FROM rings").fetchone()[0] == 2


def test_graph_shapes_and_anomaly_alone_found_no_ring(con):
    scheme(con)
    shapes_only = [
        alert("s1", "G1", "fan_in", "TWORULES"),
        alert("s2", "G2", "fan_out", "TWORULES"),
        alert("s3", "A1", "anomaly", "TWORULES"),
        alert("s4", "T5", "memo_keywords", "TWORULES"),
    ]
    assert build_rings(con, "run1", shapes_only, WINDOW) == ([], [])
    founded = shapes_only + [alert("s5", "T4", "round_amounts", "TWORULES")]
    rings, _ = build_rings(con, "run1", founded, WINDOW)
    assert [r["hub_account"] for r in rings] == ["TWORULES"]


def test_investor_in_two_schemes_does_not_merge_them(con):
    book = Payments()
    for hub in ("COHUBA", "COHUBB"):
        for i in range(5):
            book.pay(f"{hub}-FEED{i}", f"{hub}-COL", 80_000, T0 + days(i))
        book.pay(f"{hub}-COL", hub, 390_000, T0 + days(6))
        book.pay("SAVER", hub, 100_000, T0 + days(7))  # one person's savings into both schemes
    book.insert(con)
    alerts = [alert(f"{hub}{rule}", rule, "x", hub) for hub in ("COHUBA", "COHUBB") for rule in ("T1", "T5")]
    alerts += [alert("s1", "T5", "memo_keywords", "SAVER"), alert("s2", "T6", "elderly_payers", "SAVER")]
    rings, members = build_rings(con, "run1", alerts, WINDOW)
    assert sorted(r["hub_account"] for r in rings if r["hub_account"] != "SAVER") == ["COHUBA", "COHUBB"]
    hub_of = {r["ring_id"]: r["hub_account"] for r in rings}
    assert {(hub_of[m["ring_id"]], m["role"]) for m in members if m["account_no"] == "SAVER"} >= {
        ("COHUBA", "investor"),
        ("COHUBB", "investor"),
    }


def test_hub_with_one_rule_is_founded_by_its_flagged_collectors(con):
    scheme(con)
    alerts = [
        alert("a1", "T10", "insider_commission", "COHUB"),
        alert("a3", "T2", "pass_through", "COL0"),
        alert("a4", "T2", "pass_through", "COL1"),
    ]
    rings, _ = build_rings(con, "run1", alerts, WINDOW)
    assert [r["hub_account"] for r in rings] == ["COHUB"]
    # T10 alone founds nothing; the collector network gathering into COHUB is what founds it (next test)
    assert build_rings(con, "run1", alerts[:1], WINDOW, RingParams(network_min_collectors=0)) == ([], [])


def test_a_collector_network_founds_a_ring_whose_hub_is_the_receiving_account(con):
    # Issue 14: collectors each passing their takings to one account whose own payers are only those
    # collectors: T1 and T3 see no individuals at the hub, and each collector has one rule at most. The
    # network is T1's scatter-in, concentrate-out spread over the collectors, and counts as a founding rule.
    scheme(con)
    collectors_flagged = [alert("a3", "T2", "pass_through", "COL0"), alert("a4", "T2", "pass_through", "COL1")]
    hub_flagged = [alert("a1", "T5", "memo_keywords", "COHUB")]  # its collectors unflagged
    for alerts in (collectors_flagged, hub_flagged):
        rings, members = build_rings(con, "run1", alerts, WINDOW)
        assert [r["hub_account"] for r in rings] == ["COHUB"]
        roles = {m["account_no"]: m["role"] for m in members}
        assert [a for a, role in sorted(roles.items()) if role == "collector"] == ["COL0", "COL1", "COL2"]
        network = [note for note in rings[0]["why"] if note["kind"] == "collector_network"]
        # the participants are counted in SQL: COL2's payers too, though the neighbourhood did not expand COL2
        assert network == [{"kind": "collector_network", "accounts": ["COL0", "COL1", "COL2"], "participants": 40}]
        # fewer collectors than the network needs: nothing founds it
        assert build_rings(con, "run1", alerts, WINDOW, RingParams(network_min_collectors=4)) == ([], [])


def test_structuring_into_one_account_by_several_payers_founds_a_ring(con):
    # Issue 14: a "blockchain" scheme's few dozen investors each pay ¥2M in pieces just under the ¥500,000
    # threshold. T14 on the hub counts them; several people splitting into one account were told to, and that
    # counts as a second founding rule. One customer splitting his own payment founds nothing.
    book = Payments()
    for i in range(3):
        for k in range(3):
            book.pay(f"INV{i}", "COCHAIN", 480_000, T0 + days(i * 10 + k))
    book.insert(con)

    def t14(pairs: int) -> dict:
        return dict(alert("a1", "T14", "near_threshold", "COCHAIN"), metrics={"pairs": pairs})

    rings, _ = build_rings(con, "run1", [t14(3)], WINDOW)
    assert [r["hub_account"] for r in rings] == ["COCHAIN"]
    assert build_rings(con, "run1", [t14(2)], WINDOW) == ([], [])


def test_a_collector_networks_hub_is_the_hub_though_only_one_collector_has_many_payers(con):
    # Issue 14: of three collectors only one has 10 payers of its own; it forwards less than half of what the
    # hub receives. The hub, gathering from 26 individuals through the three, is still the core: the collector
    # with most payers is not the hub, nor the hub its "controller".
    book = Payments()
    for i in range(26):
        collector = "COLA" if i < 10 else ("COLB" if i < 18 else "COLC")
        book.pay(f"INV{i}", collector, 50_000, T0 + days(i % 8))
    for collector, amount in (("COLA", 490_000), ("COLB", 392_000), ("COLC", 392_000)):
        book.pay(collector, "NETHUB", amount, T0 + days(9))
    book.insert(con)
    alerts = [alert("a3", "T2", "pass_through", "COLA"), alert("a4", "T2", "pass_through", "COLB")]
    rings, members = build_rings(con, "run1", alerts, WINDOW)
    assert [r["hub_account"] for r in rings] == ["NETHUB"]
    roles = {m["account_no"]: m["role"] for m in members}
    assert (roles["COLA"], roles["COLB"], roles["COLC"]) == ("collector", "collector", "collector")


def test_a_member_paying_three_coops_most_of_his_takings_each_joins_none(con):
    # Three co-ops, each gathering from its own members; one person with 12 payers of his own pays each co-op
    # ¥50,000 (more than he took in, so not his takings passed on). He is no collector of any: three leads.
    book = Payments()
    for c in range(3):
        for i in range(12):
            book.pay(f"M{c}_{i}", f"COOP{c}", 20_000, T0 + days(i))
        book.pay("MEMBER", f"COOP{c}", 50_000, T0 + days(20 + c))
    for i in range(12):
        book.pay(f"KIN{i}", "MEMBER", 5_800, T0 + days(i))
    book.insert(con)
    alerts = [alert(f"a{c}{rule}", rule, "x", f"COOP{c}") for c in range(3) for rule in ("T4", "T6")]
    rings, _ = build_rings(con, "run1", alerts + [alert("m", "T2", "pass_through", "MEMBER")], WINDOW)
    coops = [sorted(a for a in r["member_accounts"] if a.startswith("COOP")) for r in rings]
    assert sorted(coops) == [[], ["COOP0"], ["COOP1"], ["COOP2"]]  # his own ring holds none of them


def test_members_paying_their_coop_out_of_wages_are_no_collector_network(con):
    # Farmers pay the co-op for seed and fertiliser out of their wages and its own produce payments: each passes
    # most of its intake on to one account, but individuals paid them little of it. They are no collectors, and
    # the co-op with one rule is no ring.
    book = Payments()
    for f in range(4):
        book.pay("COEMPLOYER", f"FARM{f}", 80_000, T0 + days(1))
        for r in range(4):
            book.pay(f"KIN{f}_{r}", f"FARM{f}", 500, T0 + days(2 + r))
        book.pay(f"FARM{f}", "COOP", 70_000, T0 + days(10))
    book.insert(con)
    assert build_rings(con, "run1", [alert("a1", "T5", "memo_keywords", "COOP")], WINDOW) == ([], [])


@pytest.mark.parametrize("legal_rep_of_b, hubs", [(None, ["COHUBA", "COHUBB"]), ("ID-X", ["COHUBA"])])
def test_an_agent_on_two_schemes_accounts_who_holds_neither_does_not_make_them_one(con, legal_rep_of_b, hubs):
    # A participant handing in cash at the counter is recorded as the agent (代办人) on the account it goes to;
    # one who did so at two schemes makes them one actor, yet controls neither. When the agent represents the
    # other scheme's company, the two are one controller and stay one.
    book = Payments()
    for hub in ("COHUBA", "COHUBB"):
        for i in range(12):
            book.pay(f"P-{hub[-1]}{i}", hub, 60_000, T0 + days(i))
    book.pay("XSAVINGS", "COHUBA", 50_000, T0 + days(13))  # the agent's own account pays in too
    book.insert(con)
    add_parties(
        con,
        [
            party("COHUBA", holder_id_no="91330782MA000000AA", agent_id_no="ID-X"),
            party("COHUBB", holder_id_no="91330782MA000000BB", agent_id_no="ID-X", legal_rep_id_no=legal_rep_of_b),
            party("XSAVINGS", holder_id_no="ID-X"),
        ],
    )
    resolve_actors(con)
    alerts = [alert(f"{hub}{rule}", rule, "x", hub) for hub in ("COHUBA", "COHUBB") for rule in ("T1", "T5")]
    rings, members = build_rings(con, "run1", alerts, WINDOW)
    assert sorted(ring["hub_account"] for ring in rings) == hubs
    if len(hubs) == 1:
        assert {m["account_no"]: m["role"] for m in members}["COHUBB"] != "investor"


@pytest.mark.parametrize("hub_in_group", [True, False])
def test_a_thin_schemes_hub_is_the_account_its_controllers_drain_not_the_controller_taking_most(con, hub_in_group):
    # Issue 14 (c5 S06, c12 S04): the reports hold little of the participants' money into the hub (one cash
    # deposit), and all it pays out goes to two controllers of one actor, who cash out. No member gathers from
    # many individuals, so the ring has no core. The hub is still the account the money came from, not the
    # controller receiving most; the controllers are controllers. In c12 the hub is held by the controllers'
    # actor (in the group); in c5 it is flagged alone and founds nothing by itself (in no ring).
    book = Payments()
    book.pay(None, "THINHUB", 50_000, T0)  # a participant's cash, handed in at the counter
    for k in range(5):
        book.pay("THINHUB", "CTRLA", 140_000, T0 + days(1 + k))
        book.pay("THINHUB", "CTRLB", 100_000, T0 + days(1 + k))
    for controller in ("CTRLA", "CTRLB"):
        book.pay(controller, None, 400_000, T0 + days(10))
    # an employer paying CTRLA wages is no source of the scheme's money: it pays most of its money elsewhere
    book.pay("COEMPLOYER", "CTRLA", 30_000, T0 + days(12))
    book.pay("COEMPLOYER", "COSUPPLIER", 900_000, T0 + days(12))
    book.insert(con)
    boss = {"holder_id_no": "ID-BOSS"}
    add_parties(
        con, [party("CTRLA", **boss), party("CTRLB", **boss), party("THINHUB", **(boss if hub_in_group else {}))]
    )
    resolve_actors(con)
    alerts = [
        alert("c1", "T11", "cash_out", "CTRLA"),
        alert("c2", "T7", "x", "CTRLA"),
        alert("h1", "T7", "x", "THINHUB"),
        alert("c3", "T11", "cash_out", "CTRLB"),
    ]
    rings, members = build_rings(con, "run1", alerts, WINDOW)
    assert [r["hub_account"] for r in rings] == ["THINHUB"]
    roles = {m["account_no"]: m["role"] for m in members}
    assert (roles["THINHUB"], roles["CTRLA"], roles["CTRLB"]) == ("hub", "controller", "controller")
    assert "COEMPLOYER" not in roles
    assert rings[0]["total_in"] == pytest.approx(50_000)  # what the reports hold of the participants' money
