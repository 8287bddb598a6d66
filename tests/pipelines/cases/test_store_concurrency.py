"""Two real processes on one case store (SQLite and PostgreSQL): two analysts moving the same lead, a nightly
publish racing an analyst's move, two processes creating a new store. Each process opens its own store and waits
at a barrier so the writes start together."""

from __future__ import annotations

import fcntl
import multiprocessing
import sqlite3
import time
from contextlib import closing
from datetime import datetime

import pytest
import sqlalchemy as sa

from pipelines.cases import lifecycle, tips
from pipelines.cases.publish import publish_run
from pipelines.cases.store import MIGRATIONS, CaseStore, leads, schema_version
from pipelines.errors import FundflowError
from pipelines.settings import Settings
from tests.pipelines.cases.test_lifecycle import make_lead
from tests.pipelines.cases.test_publish import OTHER_HUB, add_ring, build_warehouse, seed_payments
from tests.pipelines.cases.test_tips import tip

LEAD = "XS2025-000001"
CONTEXT = multiprocessing.get_context("fork")


def _analyst_moves(home: str, user: str, barrier, results) -> None:
    store = CaseStore.open(Settings.load(home))
    store.get_lead(LEAD)  # connect before the barrier, so both start writing at once
    barrier.wait()
    try:
        seq = lifecycle.move(store, LEAD, "CONSULTATION", user, f"{user}：初核完毕，提请会商")
        results.put((user, "ok", seq))
    except FundflowError as exc:
        results.put((user, "refused", str(exc)))
    finally:
        store.close()


def _nightly_publishes(home: str, barrier, results) -> None:
    settings = Settings.load(home)
    con = build_warehouse()
    seed_payments(con)
    add_ring(con, "run1")
    seed_payments(con, first=40, payers=20, day=datetime(2025, 3, 20))
    add_ring(con, "run2", rules=("T1", "T6", "T11", "T2"))
    store = CaseStore.open(settings)
    barrier.wait()
    try:
        result = publish_run(settings, con, "run2", store)
        results.put(("publish", "ok", result.updated))
    except FundflowError as exc:
        results.put(("publish", "refused", str(exc)))
    finally:
        store.close()


def _analyst_assigns(home: str, lead_id: str, barrier, results) -> None:
    store = CaseStore.open(Settings.load(home))
    store.get_lead(lead_id)
    barrier.wait()
    try:
        seq = lifecycle.assign(store, lead_id, "ana", "sup", "分配初核")
        results.put(("assign", "ok", seq))
    except FundflowError as exc:
        results.put(("assign", "refused", str(exc)))
    finally:
        store.close()


def _publishes_two_leads(home: str, ready, locked, results) -> None:
    settings = Settings.load(home)
    con = _two_hub_warehouse()
    seed_payments(con, first=40, payers=20, day=datetime(2025, 3, 20))
    seed_payments(con, hub=OTHER_HUB, first=40, payers=20, day=datetime(2025, 3, 20))
    add_ring(con, "run2")
    add_ring(con, "run2", hub=OTHER_HUB, members=(OTHER_HUB,), score=0.5)
    store = CaseStore.open(settings)
    ready.set()
    locked.wait(30)
    try:
        result = publish_run(settings, con, "run2", store)
        results.put(("publish", "ok", result.updated))
    except FundflowError as exc:
        results.put(("publish", "refused", str(exc)))
    finally:
        store.close()


def _analyst_slowly_assigns(home: str, lead_id: str, ready, locked, results) -> None:
    """An assignment that takes its time between locking the lead and writing (a slow console request)."""
    store = CaseStore.open(Settings.load(home))
    store.get_lead(lead_id)
    ready.wait(30)
    try:
        with store.write() as conn:
            store.lock_lead(conn, lead_id)
            locked.set()
            time.sleep(1.5)  # the publish starts meanwhile, changing the other lead first
            conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(assignee="ana"))
            seq = store.append_event(conn, lead_id, "sup", "assign", "分配初核", detail={"assignee": "ana"})
        results.put(("assign", "ok", seq))
    except FundflowError as exc:
        results.put(("assign", "refused", str(exc)))
    finally:
        store.close()


def _two_hub_warehouse():
    con = build_warehouse()
    seed_payments(con)
    seed_payments(con, hub=OTHER_HUB)
    add_ring(con, "run1")
    add_ring(con, "run1", hub=OTHER_HUB, members=(OTHER_HUB,), score=0.5)
    return con


def _registers_tip(home: str, content: str, barrier, results) -> None:
    store = CaseStore.open(Settings.load(home))
    store.get_user("ana")
    barrier.wait()
    try:
        results.put(("tip", "ok", tips.register_tip(store, tip(content=content), "ana")))
    except FundflowError as exc:
        results.put(("tip", "refused", str(exc)))
    finally:
        store.close()


def _opens_new_store(home: str, barrier, results) -> None:
    settings = Settings.load(home)
    barrier.wait()
    try:
        store = CaseStore.open(settings)
        with store.read() as conn:
            results.put(("open", "ok", conn.execute(sa.select(sa.func.count()).select_from(schema_version)).scalar()))
        store.close()
    except Exception as exc:  # any failure to open is the outcome under test
        results.put(("open", "failed", repr(exc)))


def _run(processes, results, expected: int) -> list[tuple]:
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    return sorted(results.get(timeout=5) for _ in range(expected))


def test_two_processes_moving_the_same_lead_cannot_both_succeed(settings, store):
    make_lead(store, LEAD)
    lifecycle.assign(store, LEAD, "ana", "sup", "分配初核")
    store.close()  # no connection crosses the fork
    barrier, results = CONTEXT.Barrier(2), CONTEXT.Queue()
    workers = [
        CONTEXT.Process(target=_analyst_moves, args=(str(settings.home), user, barrier, results))
        for user in ("ana", "bob")
    ]
    outcomes = _run(workers, results, 2)
    assert sorted(outcome for _, outcome, _ in outcomes) == ["ok", "refused"]
    refusal = next(detail for _, outcome, detail in outcomes if outcome == "refused")
    assert "不能从「会商研判」转为「会商研判」" in refusal and "allowed:" in refusal
    lead = store.get_lead(LEAD)
    assert lead["status"] == "CONSULTATION"
    moves = [e for e in lead["events"] if e["to_status"] == "CONSULTATION"]
    assert len(moves) == 1 and moves[0]["user"] == next(u for u, outcome, _ in outcomes if outcome == "ok")
    assert store.verify_events().ok


def test_a_nightly_publish_and_an_analysts_move_both_land(settings, store):
    con = build_warehouse()
    seed_payments(con)
    add_ring(con, "run1")
    lead_id = publish_run(settings, con, "run1", store).lead_ids[0]
    con.close()
    store.close()
    barrier, results = CONTEXT.Barrier(2), CONTEXT.Queue()
    workers = [
        CONTEXT.Process(target=_nightly_publishes, args=(str(settings.home), barrier, results)),
        CONTEXT.Process(target=_analyst_assigns, args=(str(settings.home), lead_id, barrier, results)),
    ]
    outcomes = _run(workers, results, 2)
    assert [(who, outcome) for who, outcome, _ in outcomes] == [("assign", "ok"), ("publish", "ok")]
    assert dict((who, detail) for who, _, detail in outcomes)["publish"] == 1
    lead = store.get_lead(lead_id)
    assert (lead["status"], lead["assignee"]) == ("TRIAGE", "ana")  # the analyst's change stays
    assert "T2" in lead["rule_ids"] and lead["individual_payers"] == 60  # and so does the night's
    assert {e["action"] for e in lead["events"]} == {"created", "move", "new_activity"}
    assert store.verify_events().ok


def test_a_publish_changing_two_leads_and_an_analyst_holding_the_second_do_not_deadlock(settings, store):
    con = _two_hub_warehouse()
    first, second = publish_run(settings, con, "run1", store).lead_ids  # best ring first: HUB, then OTHER_HUB
    con.close()
    store.close()
    ready, locked, results = CONTEXT.Event(), CONTEXT.Event(), CONTEXT.Queue()
    workers = [
        CONTEXT.Process(target=_publishes_two_leads, args=(str(settings.home), ready, locked, results)),
        CONTEXT.Process(target=_analyst_slowly_assigns, args=(str(settings.home), second, ready, locked, results)),
    ]
    outcomes = _run(workers, results, 2)
    assert [(who, outcome) for who, outcome, _ in outcomes] == [("assign", "ok"), ("publish", "ok")], outcomes
    assert dict((who, detail) for who, _, detail in outcomes)["publish"] == 2
    lead = store.get_lead(second)
    assert lead["assignee"] == "ana" and lead["individual_payers"] == 60
    assert [e["action"] for e in lead["events"]] == ["created", "assign", "new_activity"]  # the analyst was first
    assert store.get_lead(first)["individual_payers"] == 60
    assert store.verify_events().ok


def test_two_processes_creating_a_new_store_at_once_migrate_it_once(settings):
    barrier, results = CONTEXT.Barrier(3), CONTEXT.Queue()
    workers = [CONTEXT.Process(target=_opens_new_store, args=(str(settings.home), barrier, results)) for _ in range(3)]
    assert _run(workers, results, 3) == [("open", "ok", len(MIGRATIONS))] * 3  # one row per migration
    store = CaseStore.open(settings)
    assert store.verify_events().ok and store.verify_audit().ok
    store.close()


@pytest.mark.sqlite_only
def test_a_new_sqlite_store_is_switched_to_wal_in_turn_under_the_lock_beside_it(settings):
    # SQLite refuses a second simultaneous journal-mode switch at once, busy timeout or not (1 of 600 opens failed
    # so, six processes at a time): the switch waits for the lock another opener holds.
    settings.home.mkdir(parents=True, exist_ok=True)
    barrier, results = CONTEXT.Barrier(2), CONTEXT.Queue()
    opener = CONTEXT.Process(target=_opens_new_store, args=(str(settings.home), barrier, results))
    opener.start()  # before the lock is taken: a forked child would share it
    with open(settings.home / "cases.sqlite.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        barrier.wait()
        time.sleep(0.5)
        assert opener.is_alive() and results.empty()  # waiting on the lock, not failing
    opener.join(30)
    assert results.get(timeout=5) == ("open", "ok", len(MIGRATIONS))
    with closing(sqlite3.connect(settings.home / "cases.sqlite")) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize("contents", [("有人高息揽储", "合作社入股分红"), ("有人高息揽储", "有人高息揽储")])
def test_two_intakes_at_once_get_their_own_tip_ids_and_one_tip_is_never_registered_twice(settings, store, contents):
    store.close()
    barrier, results = CONTEXT.Barrier(2), CONTEXT.Queue()
    workers = [
        CONTEXT.Process(target=_registers_tip, args=(str(settings.home), content, barrier, results))
        for content in contents
    ]
    outcomes = _run(workers, results, 2)
    registered = [detail for _, outcome, detail in outcomes if outcome == "ok"]
    if contents[0] == contents[1]:
        assert len(registered) == 1 and "already registered" in str(outcomes), outcomes
    else:
        assert len(set(registered)) == 2, outcomes
    assert sorted(t["tip_id"] for t in tips.list_tips(store)) == sorted(registered)
    assert store.verify_tip_events().ok
