"""T3 Ponzi payouts: a hub paying its earlier investors 2% a month fires; a payroll account does not."""

from __future__ import annotations

import random

import pytest

from detectors import interest_payout
from pipelines.warehouse.db import connect_memory
from tests.detectors.graph_payments import T0, WINDOW, Payments, days, rule_for


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def ponzi(book: Payments, investors: int, rate: float, interval: float = 30.4, jitter=lambda i: 0.0) -> None:
    for i in range(investors):
        principal = 10_000 * (1 + i % 5)
        book.pay(f"INV{i}", "HUB", principal, T0 + days(i % 7))
        for k in range(1, 4):
            book.pay("HUB", f"INV{i}", round(principal * (rate + jitter(i)), 2), T0 + days(i % 7 + interval * k))


def test_monthly_payouts_to_earlier_investors_fire(con):
    book = Payments()
    ponzi(book, investors=12, rate=0.02)
    book.insert(con, flagged=["HUB"])
    alerts = interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW)
    assert [a.subject for a in alerts] == ["HUB"]
    assert alerts[0].metrics["payees"] == 12
    assert alerts[0].metrics["period"] == "monthly"
    assert alerts[0].metrics["annual_rate"] == pytest.approx(0.24, abs=0.001)
    assert "12 名早期投资人按月收到返款" in alerts[0].reason_zh
    assert 0.5 <= alerts[0].strength <= 1


def test_weekly_payouts_fire(con):
    book = Payments()
    ponzi(book, investors=10, rate=0.005, interval=7)
    book.insert(con, flagged=["HUB"])
    alerts = interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW)
    assert alerts and alerts[0].metrics["period"] == "weekly"


def test_payroll_to_employees_who_never_paid_in_does_not_fire(con):
    book = Payments()
    for i in range(40):
        for k in range(4):
            book.pay("COFACTORY", f"EMP{i}", 6_000, T0 + days(30.4 * k))
    book.insert(con, flagged=["COFACTORY"])
    assert interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW) == []


def test_nine_investors_are_one_too_few(con):
    book = Payments()
    ponzi(book, investors=9, rate=0.02)
    book.insert(con, flagged=["HUB"])
    assert interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW) == []


def test_unstable_ratio_does_not_fire(con):
    book = Payments()
    ponzi(book, investors=12, rate=0.02, jitter=lambda i: 0.01 * (i % 3))
    book.insert(con, flagged=["HUB"])
    assert interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW) == []


def test_low_rate_does_not_fire(con):
    book = Payments()
    ponzi(book, investors=12, rate=0.004)  # 4.8% a year: a deposit, not a promise of high returns
    book.insert(con, flagged=["HUB"])
    assert interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW) == []


def test_irregular_interval_does_not_fire(con):
    book = Payments()
    ponzi(book, investors=12, rate=0.02, interval=20)
    book.insert(con, flagged=["HUB"])
    assert interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW) == []


def test_reinvested_tranche_starting_its_own_schedule_still_counts(con):
    book = Payments()
    ponzi(book, investors=12, rate=0.02)
    for i in range(12):  # a second deposit mid-way, paid on its own monthly schedule
        book.pay(f"INV{i}", "HUB", 30_000, T0 + days(40 + i % 7))
        book.pay("HUB", f"INV{i}", 600, T0 + days(50 + i % 7))
    book.insert(con, flagged=["HUB"])
    alerts = interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW)
    assert alerts and alerts[0].metrics["payees"] == 12
    assert alerts[0].metrics["annual_rate"] == pytest.approx(0.24, abs=0.001)


def test_a_night_without_a_possible_hub_loads_no_graph(con, monkeypatch):
    book = Payments()
    ponzi(book, investors=9, rate=0.02)  # one payee short of min_payees: no hub can alert
    book.insert(con, flagged=["HUB"])

    def no_graph(*args, **kwargs):
        raise AssertionError("the neighbourhood was loaded")

    monkeypatch.setattr(interest_payout.neighbourhood, "load", no_graph)
    assert interest_payout.detect(con, rule_for(interest_payout, "T3"), WINDOW) == []


@pytest.mark.parametrize("seed", range(12))
def test_the_sql_candidates_change_no_alert(con, seed, monkeypatch):
    """Random hubs near every bar (payees, payouts, rate, rhythm, payees who never paid in) beside one that
    alerts: the alerts are those found when every flagged account is examined in the graph."""
    rng = random.Random(seed)
    book = Payments()
    ponzi(book, investors=12, rate=0.02)
    hubs = ["HUB", *(f"HUB{h}" for h in range(3))]
    for hub in hubs[1:]:
        rate, interval = rng.choice([0.02, 0.004]), rng.choice([7, 30.4, 30.4, 20])
        for i in range(rng.randint(8, 13)):
            investor = f"{hub}-INV{i}"
            principal = 10_000 * rng.randint(1, 5)
            if rng.random() < 0.9:  # some payees never paid in: a payroll's employees
                book.pay(investor, hub, principal, T0 + days(rng.randint(0, 6)))
            for k in range(1, rng.randint(2, 5)):
                book.pay(hub, investor, round(principal * rate, 2), T0 + days(7 + interval * k))
    book.insert(con, flagged=hubs)
    rule = rule_for(interest_payout, "T3")
    found = interest_payout.detect(con, rule, WINDOW)
    every_flagged = """SELECT account_no FROM flagged_accounts
        WHERE $start < $end AND $min_payouts > 0 AND $min_payees > 0"""
    monkeypatch.setattr(interest_payout, "CANDIDATES_SQL", every_flagged)
    assert found == interest_payout.detect(con, rule, WINDOW)
    assert "HUB" in {alert.subject for alert in found}
