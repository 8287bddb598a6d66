"""A group split into sibling rings opens on its money counted once: an account the siblings share, and money
they pay each other, are not counted twice (issue 14: one computation)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from detectors.pack import load_lead_policy
from pipelines.cases.publish import RingFacts, group_inflow, opening_facts
from pipelines.settings import PROJECT_ROOT
from pipelines.warehouse.db import connect_memory
from tests.detectors.graph_payments import T0, WINDOW, Payments, days


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def ring(hub: str, inner: list[str], total_in: int, rule_ids: list[str]) -> RingFacts:
    return RingFacts(
        ring_key=f"ring-{hub}",
        run_id="run1",
        hub_account=hub,
        window_start=WINDOW.start,
        window_end=WINDOW.end,
        total_in=Decimal(total_in),
        total_out=Decimal(0),
        individual_payers=3,
        elderly_share=0.0,
        provinces=[],
        score=1.0,
        typologies=[],
        accounts=[{"account_no": hub, "role": "hub"}]
        + [{"account_no": a, "role": "other"} for a in inner]
        + [{"account_no": "CTRL", "role": "controller"}],
        alerts=[{"rule_id": rule, "typology": "x", "subject": hub, "metrics": {}} for rule in rule_ids],
        why=[{"kind": "split", "hubs": 2, "shared": inner, "group": "g1"}],
    )


def test_sibling_rings_open_on_the_groups_money_counted_once(con):
    policy = load_lead_policy(PROJECT_ROOT / "rules")
    floor = Decimal(str(policy.opening_min_amount_cny))
    rules = sorted(policy.opening_rules)[:1] + ["T5", "T6", "T7", "T10"][: policy.opening_other_hits]
    book = Payments()
    book.pay("P1", "HUBA", 150_000, T0)
    book.pay("P2", "HUBB", 150_000, T0 + days(1))
    book.pay("P3", "SHARED", 150_000, T0 + days(2))  # an inner account of both siblings
    book.pay("HUBA", "HUBB", 100_000, T0 + days(3))  # money moving between siblings
    book.pay("HUBB", "CTRL", 90_000, T0 + days(4))  # out to a controller: no inflow of anyone's
    book.insert(con)
    # each ring's own inflow, as pipelines.cases.evidence counts it: A 150k + 150k, B 150k + 150k + 100k from A
    siblings = [ring("HUBA", ["SHARED"], 300_000, rules), ring("HUBB", ["SHARED"], 400_000, rules)]
    assert sum(r.total_in for r in siblings) >= floor  # the summed figure would open the group

    amounts = group_inflow(con, siblings)
    assert amounts == {"g1": Decimal(450_000)}
    assert amounts["g1"] < floor
    facts = opening_facts(siblings, amounts)
    assert {key: (fact.amount, fact.opens(policy)) for key, fact in facts.items()} == {
        "ring-HUBA": (Decimal(450_000), False),
        "ring-HUBB": (Decimal(450_000), False),
    }

    book.pay(None, "HUBB", float(floor) - 450_000, T0 + days(5))  # cash from outside up to the floor
    book.rows = book.rows[-1:]
    book.insert(con)
    facts = opening_facts(siblings, group_inflow(con, siblings))
    assert [fact.opens(policy) for fact in facts.values()] == [True, True]
    # a ring not split keeps its own inflow
    alone = ring("HUBC", [], 600_000, rules)
    alone.why = []
    assert group_inflow(con, [alone]) == {}
    assert opening_facts([alone], {})["ring-HUBC"].amount == Decimal(600_000)
