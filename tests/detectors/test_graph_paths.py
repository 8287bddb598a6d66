"""G3 cycles and G4 scatter-gather on hand-built graphs, each with its look-alike."""

from __future__ import annotations

import pytest

from detectors import cycle, scatter_gather
from pipelines.warehouse.db import connect_memory
from tests.detectors.graph_payments import T0, WINDOW, Payments, days, rule_for


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def turn(book: Payments, accounts: list[str], amount: float, start, drift: float = 0.0) -> None:
    for hop, (payer, payee) in enumerate(zip(accounts, accounts[1:] + accounts[:1])):
        book.pay(payer, payee, amount * (1 + drift * hop), start + days(hop))


def test_repeated_small_cycles_fire(con):
    book = Payments()
    for k in range(3):
        turn(book, ["A", "B", "C", "D"], 30_000, T0 + days(10 * k))
    book.insert(con, flagged=["A"])
    alerts = cycle.detect(con, rule_for(cycle, "G3"), WINDOW)
    assert [a.subject for a in alerts] == ["A"]
    assert alerts[0].metrics["cycles"] == 3 and alerts[0].metrics["length"] == 4


def test_one_large_cycle_fires(con):
    book = Payments()
    turn(book, ["A", "B", "C"], 800_000, T0)
    book.insert(con, flagged=["B"])
    alerts = cycle.detect(con, rule_for(cycle, "G3"), WINDOW)
    assert [a.metrics["cycle_accounts"] for a in alerts] == [["A", "B", "C"]]


def test_family_passing_a_gift_around_once_does_not_fire(con):
    book = Payments()
    turn(book, ["MUM", "SON", "DAUGHTER"], 5_000, T0)
    book.insert(con, flagged=["MUM"])
    assert cycle.detect(con, rule_for(cycle, "G3"), WINDOW) == []


def test_large_turn_out_of_time_order_does_not_fire(con):
    book = Payments()
    book.pay("A", "B", 800_000, T0 + days(2))
    book.pay("B", "C", 800_000, T0 + days(1))  # paid on before the money arrived
    book.pay("C", "A", 800_000, T0 + days(3))
    book.insert(con, flagged=["A"])
    assert cycle.detect(con, rule_for(cycle, "G3"), WINDOW) == []


def test_repeated_cycles_with_drifting_amounts_do_not_fire(con):
    book = Payments()
    for k in range(3):
        turn(book, ["X", "Y", "Z"], 30_000, T0 + days(10 * k), drift=0.15)  # 30% off by the last hop
    book.insert(con, flagged=["X"])
    assert cycle.detect(con, rule_for(cycle, "G3"), WINDOW) == []


def test_two_hops_are_not_a_cycle(con):
    book = Payments()
    for k in range(3):
        book.pay("A", "B", 30_000, T0 + days(10 * k))
        book.pay("B", "A", 30_000, T0 + days(10 * k + 1))
    book.insert(con, flagged=["A"])
    assert cycle.detect(con, rule_for(cycle, "G3"), WINDOW) == []


def test_scatter_gather_fires(con):
    book = Payments()
    for i in range(4):
        book.pay("HUB", f"MULE{i}", 100_000, T0 + days(i))
        book.pay(f"MULE{i}", "BOSS", 98_000, T0 + days(i + 1))
    book.insert(con, flagged=["HUB"])
    alerts = scatter_gather.detect(con, rule_for(scatter_gather, "G4"), WINDOW)
    assert [(a.subject, a.metrics["beneficiary"], a.metrics["paths"]) for a in alerts] == [("HUB", "BOSS", 4)]


def test_scatter_gather_found_from_the_flagged_beneficiary(con):
    book = Payments()
    for i in range(3):
        book.pay("HUB", f"MULE{i}", 100_000, T0 + days(i))
        book.pay(f"MULE{i}", "BOSS", 100_000, T0 + days(i + 1))
    book.insert(con, flagged=["BOSS"])
    assert [a.subject for a in scatter_gather.detect(con, rule_for(scatter_gather, "G4"), WINDOW)] == ["BOSS"]


def test_salaries_then_rent_to_one_landlord_do_not_fire(con):
    book = Payments()
    for i in range(6):
        book.pay("COFIRM", f"EMP{i}", 12_000, T0 + days(i))
        book.pay(f"EMP{i}", "LANDLORD", 3_000, T0 + days(i + 2))  # rent is not the salary passed on
    # Right amounts, wrong order: the onward payment came before the money arrived.
    for i in range(3):
        book.pay(f"PRE{i}", "BOSS2", 100_000, T0 + days(i))
        book.pay("HUB2", f"PRE{i}", 100_000, T0 + days(i + 1))
    book.insert(con, flagged=["COFIRM", "HUB2"])
    assert scatter_gather.detect(con, rule_for(scatter_gather, "G4"), WINDOW) == []
