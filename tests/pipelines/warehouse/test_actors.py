"""Actor resolution: accounts behind one person or front end up in one actor, across banks (Done-when 3)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from detectors import controlled_accounts
from pipelines.warehouse.actors import MAX_ACCOUNTS_PER_KEY, resolve_actors
from pipelines.warehouse.db import connect_memory
from tests.builders import add_parties, add_payments, day, party, pay, person_id
from tests.detectors.graph_payments import WINDOW, rule_for

ZHANG = person_id(date(1970, 5, 1), serial=11)
LI = person_id(date(1985, 2, 3), serial=22)


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def add_txn_devices(con, rows: list[tuple[str, str | None, str | None]]) -> None:
    """Minimal report lines carrying a device code or IP for an account."""
    for i, (account, device, ip) in enumerate(rows):
        con.execute(
            """
            INSERT INTO txn (txn_id, file_id, row_no, report_kind, institution_code, txn_ref, txn_time, txn_date,
                account_no, account_name, direction, amount, currency, method, is_cash, warnings,
                loaded_at, device_code, ip_address)
            VALUES (?, 'f', ?, 'LARGE', 'B1', ?, ?, ?, ?, ?, 'OUT', 100, 'CNY', 'ONLINE', false, [], ?, ?, ?)
        """,
            [
                f"t{i}",
                i,
                f"r{i}",
                datetime(2025, 1, 1),
                date(2025, 1, 1),
                account,
                account,
                datetime(2025, 1, 2),
                device,
                ip,
            ],
        )


def actor_of(con, account: str) -> str:
    return con.execute("SELECT actor_id FROM actor_accounts WHERE account_no = ?", [account]).fetchone()[0]


def test_same_person_at_two_banks_is_one_actor(con):
    add_parties(
        con,
        [
            party("ICBC-1", holder_id_no=ZHANG, institution_code="ICBC"),
            party("ABC-7", holder_id_no=ZHANG.lower(), institution_code="ABC"),
            party("ABC-8", holder_id_no=LI, institution_code="ABC"),
        ],
    )
    resolve_actors(con)
    assert actor_of(con, "ICBC-1") == actor_of(con, "ABC-7") != actor_of(con, "ABC-8")
    n_accounts, n_institutions, id_no = con.execute(
        "SELECT n_accounts, n_institutions, id_no FROM actors WHERE actor_id = ?", [actor_of(con, "ICBC-1")]
    ).fetchone()
    assert (n_accounts, n_institutions) == (2, 2)
    assert id_no.upper() == ZHANG
    reasons = dict(con.execute("SELECT account_no, link_reason FROM actor_accounts").fetchall())
    assert reasons == {"ICBC-1": "holder_id", "ABC-7": "holder_id", "ABC-8": "own"}


def test_legal_rep_phone_agent_and_device_link_accounts(con):
    add_parties(
        con,
        [
            party("CO-FUND", kind="ORG", holder_id_no="91330782MA2XXXXXX1", legal_rep_id_no=ZHANG),
            party("ZHANG-1", holder_id_no=ZHANG),
            party("WANG-1", holder_id_no="W", holder_phone="13800000001"),
            party("ZHAO-1", holder_id_no="Z", holder_phone="13800000001"),
            party("SUN-1", holder_id_no="S", agent_id_no=ZHANG),
            party("QIAN-1", holder_id_no="Q"),
            party("ZHOU-1", holder_id_no="ZH"),
        ],
    )
    add_txn_devices(con, [("QIAN-1", "DEV-9", None), ("ZHOU-1", "DEV-9", None)])
    resolve_actors(con)
    assert actor_of(con, "CO-FUND") == actor_of(con, "ZHANG-1") == actor_of(con, "SUN-1")
    assert actor_of(con, "WANG-1") == actor_of(con, "ZHAO-1") != actor_of(con, "ZHANG-1")
    assert actor_of(con, "QIAN-1") == actor_of(con, "ZHOU-1")
    reasons = dict(con.execute("SELECT account_no, link_reason FROM actor_accounts").fetchall())
    assert reasons["CO-FUND"] == "legal_rep" and reasons["SUN-1"] == "agent" and reasons["QIAN-1"] == "device"


def test_links_chain_transitively_and_common_ip_links_nothing(con):
    add_parties(
        con,
        [
            party("A1", holder_id_no="A", holder_phone="P1"),
            party("B1", holder_id_no="B", holder_phone="P1"),
            party("B2", holder_id_no="B"),
        ],
    )
    many = [f"TOWN{i}" for i in range(MAX_ACCOUNTS_PER_KEY + 1)]
    add_parties(con, [party(account, holder_id_no=account) for account in many])
    add_txn_devices(con, [(account, None, "10.0.0.1") for account in many])
    resolve_actors(con)
    assert actor_of(con, "A1") == actor_of(con, "B2")
    assert len({actor_of(con, account) for account in many}) == len(many)


def test_actor_id_is_stable_when_unrelated_accounts_arrive(con):
    add_parties(con, [party("ICBC-1", holder_id_no=ZHANG), party("ABC-7", holder_id_no=ZHANG)])
    resolve_actors(con)
    before = actor_of(con, "ABC-7")
    add_parties(con, [party("AAA-0", holder_id_no=LI), party("ICBC-0", holder_id_no=ZHANG)])
    resolve_actors(con)
    assert actor_of(con, "ABC-7") == before == actor_of(con, "ICBC-0")
    assert con.execute("SELECT count(*) FROM actor_accounts").fetchone()[0] == 4


def controlled_group(con, accounts: int, payers: int, amount: float) -> list[str]:
    names = [f"ACC{i}" for i in range(accounts)]
    add_parties(
        con,
        [
            party(name, holder_id_no=f"H{i}", holder_phone="13900000009", institution_code="B1" if i % 2 else "B2")
            for i, name in enumerate(names)
        ],
    )
    add_payments(con, [pay(f"INV{i}", names[i % accounts], amount, day(60 + i % 20)) for i in range(payers)])
    resolve_actors(con)
    return names


def test_t9_fires_on_five_accounts_at_two_banks_jointly_taking_from_many(con):
    names = controlled_group(con, accounts=5, payers=40, amount=20_000)
    alerts = controlled_accounts.detect(con, rule_for(controlled_accounts, "T9"), WINDOW)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.subject_kind == "actor" and sorted(alert.accounts) == names
    assert alert.metrics["individual_payers"] == 40 and alert.metrics["link_reasons"] == ["phone"]
    assert "5 个账户" in alert.reason_zh


def test_t9_four_accounts_do_not_fire(con):
    controlled_group(con, accounts=4, payers=40, amount=20_000)
    assert controlled_accounts.detect(con, rule_for(controlled_accounts, "T9"), WINDOW) == []


def test_t9_person_moving_savings_between_own_accounts_does_not_fire(con):
    names = [f"MINE{i}" for i in range(5)]
    add_parties(con, [party(name, holder_id_no=ZHANG, institution_code=f"B{i % 2}") for i, name in enumerate(names)])
    add_payments(
        con,
        [pay("COEMPLOYER", names[0], 9_000, day(60 + 30 * k)) for k in range(3)]
        + [pay(names[i], names[i + 1], 5_000, day(61 + i)) for i in range(4)],
    )
    resolve_actors(con)
    assert controlled_accounts.detect(con, rule_for(controlled_accounts, "T9"), WINDOW) == []


def test_t9_accounts_trading_heavily_with_each_other_fire(con):
    names = [f"MULE{i}" for i in range(5)]
    add_parties(
        con,
        [
            party(name, holder_id_no=f"M{i}", agent_id_no=ZHANG, institution_code=f"B{i % 2}")
            for i, name in enumerate(names)
        ],
    )
    add_payments(
        con,
        [pay("COFRONT", names[0], 600_000, day(60))]
        + [pay(names[i], names[i + 1], 550_000, day(61 + i)) for i in range(4)],
    )
    resolve_actors(con)
    alerts = controlled_accounts.detect(con, rule_for(controlled_accounts, "T9"), WINDOW)
    assert [a.metrics["internal_payments"] for a in alerts] == [4]
