"""G1 fan-in, G2 fan-out and G5 gather-scatter on hand-built graphs, each with its look-alike."""

from __future__ import annotations

import pytest

from detectors import gather_scatter, hub_degree
from pipelines.warehouse.db import connect_memory
from tests.detectors.graph_payments import T0, WINDOW, Payments, days, rule_for


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def g1(**params):
    return rule_for(hub_degree, "G1", "fan_in", **params)


def g2(**params):
    return rule_for(hub_degree, "G2", "fan_out", direction="out", min_counterparties=10, **params)


def test_fan_in_within_span_fires(con):
    book = Payments()
    for i in range(25):
        book.pay(f"P{i}", "HUB", 20_000, T0 + days(i))
    book.insert(con, flagged=["HUB"])
    alerts = hub_degree.detect(con, g1(), WINDOW)
    assert [a.subject for a in alerts] == ["HUB"]
    assert alerts[0].metrics["counterparties"] == 25
    assert alerts[0].typology == "fan_in"


def test_same_senders_spread_over_months_do_not_fire(con):
    book = Payments()
    for i in range(25):
        book.pay(f"P{i}", "HUB", 20_000, T0 + days(i * 4))  # at most 8 distinct senders in any 30 days
    book.insert(con, flagged=["HUB"])
    assert hub_degree.detect(con, g1(), WINDOW) == []


def test_unflagged_hub_is_not_examined(con):
    book = Payments()
    for i in range(25):
        book.pay(f"P{i}", "HUB", 20_000, T0 + days(i))
    book.insert(con, flagged=["P0"])
    assert [a.subject for a in hub_degree.detect(con, g1(), WINDOW)] == []


def test_fan_out_fires_and_nine_receivers_do_not(con):
    book = Payments()
    for i in range(10):
        book.pay("HUB", f"R{i}", 5_000, T0 + days(i))
    for i in range(9):
        book.pay("NEAR", f"S{i}", 5_000, T0 + days(i))
    book.insert(con, flagged=["HUB", "NEAR"])
    assert [a.subject for a in hub_degree.detect(con, g2(), WINDOW)] == ["HUB"]


def test_gather_then_scatter_fires(con):
    book = Payments()
    for i in range(12):
        book.pay(f"INV{i}", "HUB", 50_000, T0 + days(i * 0.5))
    for i in range(10):
        book.pay("HUB", f"OUT{i}", 55_000, T0 + days(6 + i * 0.2))
    book.insert(con, flagged=["HUB"])
    alerts = gather_scatter.detect(con, rule_for(gather_scatter, "G5"), WINDOW)
    assert [a.subject for a in alerts] == ["HUB"]
    assert alerts[0].metrics["senders"] == 12 and alerts[0].metrics["receivers"] == 10
    assert alerts[0].metrics["out_share"] >= 0.8


def test_shop_paying_few_suppliers_and_slow_payer_do_not_fire(con):
    book = Payments()
    for i in range(30):
        book.pay(f"BUYER{i}", "COSHOP", 5_000, T0 + days(i * 0.2))
    for i in range(3):
        book.pay("COSHOP", f"COSUPPLIER{i}", 45_000, T0 + days(7))
    # Gathers from 12 and pays 10, but only after a month: money that stays is not gather-scatter.
    for i in range(12):
        book.pay(f"INV{i}", "SLOW", 50_000, T0 + days(i * 0.5))
    for i in range(10):
        book.pay("SLOW", f"OUT{i}", 55_000, T0 + days(40 + i))
    book.insert(con, flagged=["COSHOP", "SLOW"])
    assert gather_scatter.detect(con, rule_for(gather_scatter, "G5"), WINDOW) == []
