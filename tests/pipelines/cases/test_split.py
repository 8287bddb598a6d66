"""Splitting a lead an earlier version merged: each part around its own core, the other accounts by their money,
figures from publishing's computation, the lead's work kept on every part with an event on each, refusals that
name the field — and publishing afterwards keeps the parts apart."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pipelines.cases import lifecycle
from pipelines.cases.parts import assign_accounts, ring_key_of, split_links
from pipelines.cases.publish import publish_run
from pipelines.cases.split import split_lead
from pipelines.cases.store import CaseStore, leads
from pipelines.errors import LifecycleError, NotFoundError
from tests.pipelines.cases.test_publish import (
    CASHER,
    COLLECTOR,
    HUB,
    OTHER_HUB,
    BoundParameters,
    add_ring,
    build_warehouse,
    seed_payments,
)

REASON = "两个方案各有归集账户和参与人，误合并 / two schemes merged by mistake"


@pytest.fixture
def store(settings):
    opened = CaseStore.open(settings)
    for name, role in (("ana", "analyst"), ("sup", "supervisor"), ("aud", "auditor")):
        opened.add_user(name, role)
    yield opened
    opened.close()


def publish_merged_lead(settings, con, store: CaseStore) -> str:
    """One lead holding two schemes, as publishing before issue 14 left it: HUB's 40 people, and OTHER_HUB's 40
    (30 of them also HUB's) who pay ¥30,000 each; OTHER_HUB forwards more to COLLECTOR than HUB does."""
    seed_payments(con)
    add_ring(con, "run1")
    lead_id = publish_run(settings, con, "run1", store).lead_ids[0]
    seed_payments(con, hub=OTHER_HUB, first=10, payers=40, amount=30_000, memo="合作社入股分红")
    add_ring(con, "run2", hub=OTHER_HUB, members=(OTHER_HUB, HUB))
    assert publish_run(settings, con, "run2", store).lead_ids == (lead_id,)
    return lead_id


@pytest.fixture
def merged(settings, store):
    con = build_warehouse()
    lead_id = publish_merged_lead(settings, con, store)
    lifecycle.assign(store, lead_id, "ana", "sup", "分配初核")
    yield con, lead_id
    con.close()


def lead_count(store: CaseStore) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar_one()


def non_investors(lead: dict) -> dict[str, str]:
    return {a["account_no"]: a["role"] for a in lead["accounts"] if a["role"] != "investor"}


def test_the_rule_places_accounts_by_money_and_a_participant_of_both_in_both():
    roles = {"A": "hub", "B": "hub", "C": "collector", "D": "promoter", "E": "other", "P": "investor", "Q": "investor"}
    ties = {
        ("A", "C"): Decimal(10),
        ("B", "C"): Decimal(30),  # C forwards more to B: B's
        ("C", "D"): Decimal(5),  # D is paid only by C: follows C, in the second round
        ("A", "P"): Decimal(1),
        ("B", "P"): Decimal(1),  # P paid both
        ("B", "Q"): Decimal(1),
    }
    one, two = assign_accounts(roles, [["A"], ["B"]], ties)
    assert one == {"A": "hub", "E": "other", "P": "investor"}  # E moved no money: stays with the first
    assert two == {"B": "hub", "C": "collector", "D": "promoter", "P": "investor", "Q": "investor"}


def test_a_merged_lead_splits_into_its_schemes_each_with_its_own_figures_and_the_leads_work(store, merged):
    con, lead_id = merged
    before = store.get_lead(lead_id)
    assert {HUB, OTHER_HUB, COLLECTOR} <= set(non_investors(before))
    result = split_lead(store, con, lead_id, [[HUB], [OTHER_HUB]], "ana", REASON)
    assert result.lead_ids[0] == lead_id and len(result.lead_ids) == 2
    new_id = result.lead_ids[1]
    assert new_id == f"{lead_id[:-6]}{int(lead_id[-6:]) + 1:06d}"
    one, two = store.get_lead(lead_id), store.get_lead(new_id)
    assert non_investors(one) == {HUB: "hub", CASHER: "controller"}  # CASHER moved no money: the original keeps it
    assert non_investors(two) == {OTHER_HUB: "hub", COLLECTOR: "collector"}  # COLLECTOR got more from OTHER_HUB
    assert (one["hub_account"], two["hub_account"]) == (HUB, OTHER_HUB)
    # the merged lead's hub had become OTHER_HUB; each part's key is now its own hub's, as detection keys a ring
    assert before["hub_account"] == OTHER_HUB
    assert (one["ring_key"], two["ring_key"]) == (ring_key_of(HUB), ring_key_of(OTHER_HUB))
    # figures from publishing's computation: each part's own participants and money
    assert (one["individual_payers"], one["total_in"]) == (40, Decimal(800_000))
    assert two["individual_payers"] == 40
    assert two["figures"]["flows"]["in_participant"]["amount"] == "1200000.00"
    assert one["figures"]["participants"] == 40 and "¥800,000 来自 40 名个人" in one["narrative"]
    assert "¥1,200,000 来自 40 名个人" in two["narrative"]
    # people 10–39 paid both hubs: in both parts, shown as "also in"
    assert one["also_in"] == [{"lead_id": new_id, "participants": 30}]
    assert two["also_in"] == [{"lead_id": lead_id, "participants": 30}]
    assert {a["subject"] for a in one["alerts"]} == {HUB} and {a["subject"] for a in two["alerts"]} == {OTHER_HUB}
    # HUB's forwarding to COLLECTOR was inside the merged lead; now it is money out of one part and into the other
    forwarded = f"{HUB[-4:]}-fwd-0"
    assert {p["payment_id"]: p["flow"] for p in one["payments"]}[forwarded] == "out_other"
    assert {p["payment_id"]: p["flow"] for p in two["payments"]}[forwarded] == "in_other"
    assert not {p["payment_id"] for p in two["payments"]} & {f"{HUB[-4:]}-in-{i}" for i in range(40)}
    # the analysts' side as it was, on every part
    for part in (one, two):
        assert (part["status"], part["assignee"], part["due_date"]) == ("TRIAGE", "ana", before["due_date"])
    # an event on every part: who, when, why; the chains still hold
    split_event, from_event = one["events"][-1], two["events"][-1]
    assert (split_event["action"], split_event["user"], split_event["note"]) == ("split", "ana", REASON)
    assert (from_event["action"], from_event["user"], from_event["note"]) == ("split_from", "ana", REASON)
    assert from_event["detail"]["split_from"] == lead_id and from_event["detail"]["parts"] == [lead_id, new_id]
    assert HUB not in str(from_event["detail"])  # account numbers in the history are masked
    assert store.verify_events().ok and store.verify_audit().ok
    assert split_links(one) == {"split_from": None, "split_into": [new_id], "siblings": []}
    assert split_links(two) == {"split_from": lead_id, "split_into": [], "siblings": []}
    assert two["runs"] == [dict(run, lead_id=new_id) for run in before["runs"]]


def test_publishing_the_merged_ring_again_updates_each_part_by_its_core_and_never_joins_them(settings, store, merged):
    con, lead_id = merged
    new_id = split_lead(store, con, lead_id, [[HUB], [OTHER_HUB]], "ana", REASON).lead_ids[1]
    parts = {part_id: non_investors(store.get_lead(part_id)) for part_id in (lead_id, new_id)}
    result = publish_run(settings, con, "run2", store)  # the detectors still see one ring holding both cores
    assert (result.new, lead_count(store)) == (0, 2) and set(result.lead_ids) == {lead_id, new_id}
    assert {part_id: non_investors(store.get_lead(part_id)) for part_id in parts} == parts
    # new money into both hubs, seen in one ring again: each part gets its own
    seed_payments(con, first=60, payers=10, day=datetime(2025, 3, 20))
    seed_payments(con, hub=OTHER_HUB, first=80, payers=10, day=datetime(2025, 3, 21))
    add_ring(con, "run3", hub=OTHER_HUB, members=(OTHER_HUB, HUB))
    result = publish_run(settings, con, "run3", store)
    assert result.new == 0 and lead_count(store) == 2
    one, two = store.get_lead(lead_id), store.get_lead(new_id)
    assert (one["hub_account"], two["hub_account"]) == (HUB, OTHER_HUB)
    assert non_investors(one) == parts[lead_id] and non_investors(two) == parts[new_id]
    assert one["individual_payers"] == 50 and one["total_in"] == Decimal(1_000_000)
    investors_one = {a["account_no"] for a in one["accounts"] if a["role"] == "investor"}
    investors_two = {a["account_no"] for a in two["accounts"] if a["role"] == "investor"}
    assert f"62170000{80:011d}" in investors_two - investors_one
    assert store.verify_events().ok


REFUSALS = [
    ([[HUB]], "ana", REASON, "core: a split needs at least 2 parts"),
    ([[HUB], ["6222029999999999999"]], "ana", REASON, "core (part 2): account 622202*********9999 is not in"),
    ([[HUB], [HUB, OTHER_HUB]], "ana", REASON, "core (part 2): account 622202*********0018 is already in part 1"),
    ([[HUB], [f"62170000{1:011d}"]], "ana", REASON, "core (part 2): account 621700*********0001 is a investor"),
    ([[HUB], [OTHER_HUB]], "aud", REASON, "role auditor may not split leads"),
    ([[HUB], [OTHER_HUB]], "ana", "  ", "reason: a reason is required"),
]


def test_refusals_name_the_field_and_change_nothing(store, merged):
    con, lead_id = merged
    before = store.get_lead(lead_id)
    for cores, user, reason, message in REFUSALS:
        with pytest.raises(LifecycleError, match=re.escape(message)):
            split_lead(store, con, lead_id, cores, user, reason)
    assert lead_count(store) == 1 and store.get_lead(lead_id)["events"] == before["events"]
    with pytest.raises(NotFoundError, match="no such lead"):
        split_lead(store, con, "XS2025-999999", [[HUB], [OTHER_HUB]], "ana", REASON)
    lifecycle.propose_close(store, lead_id, "ana", "排除")
    lifecycle.confirm_close(store, lead_id, "sup", "同意排除")
    with pytest.raises(LifecycleError, match="a CLOSED lead cannot be split"):
        split_lead(store, con, lead_id, [[HUB], [OTHER_HUB]], "ana", REASON)


def test_splitting_binds_no_list_of_accounts_or_payments(store, merged):
    # Issue 14: DuckDB binding a Python list parameter tries to import pandas twice per element; the split reads
    # the lead's accounts (money_ties) and stages its parts' rings (staged_rings) through Arrow instead.
    con, lead_id = merged
    recorder = BoundParameters(con)
    result = split_lead(store, recorder, lead_id, [[HUB], [OTHER_HUB]], "ana", REASON)
    assert len(result.lead_ids) == 2
    assert recorder.queries > 2, "the recorder saw the split's queries"
    assert not [value for value in recorder.values if isinstance(value, (list, tuple))]
