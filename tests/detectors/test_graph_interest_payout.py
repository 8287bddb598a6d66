"""T3 Ponzi payouts: a hub paying its earlier investors 2% a month fires; a payroll account does not."""

from __future__ import annotations

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
