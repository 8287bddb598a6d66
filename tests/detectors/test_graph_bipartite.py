"""G6 bipartite and G7 stack on hand-built graphs, each with its look-alike."""

from __future__ import annotations

import pytest

from detectors import bipartite
from pipelines.warehouse.db import connect_memory
from tests.detectors.graph_payments import T0, WINDOW, Payments, days, rule_for


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


def block(book: Payments, senders: list[str], receivers: list[str], start, amount=50_000, skip=()) -> None:
    for i, s in enumerate(senders):
        for j, r in enumerate(receivers):
            if (i, j) not in skip:
                book.pay(s, r, amount, start + days(i * 0.1 + j * 0.01))


def test_dense_many_to_many_block_fires(con):
    book = Payments()
    block(book, ["S1", "S2", "S3", "S4"], ["R1", "R2", "R3"], T0, skip={(3, 2)})
    book.insert(con, flagged=["S1"])
    alerts = bipartite.detect(con, rule_for(bipartite, "G6"), WINDOW)
    assert len(alerts) == 1
    assert alerts[0].metrics["layer_sizes"] == "4 → 3"
    assert alerts[0].metrics["density"] == pytest.approx(11 / 12, abs=0.001)


def test_households_paying_the_same_utilities_do_not_fire(con):
    book = Payments()
    block(book, ["H1", "H2", "H3"], ["COWATER", "COPOWER", "COGAS"], T0, amount=300)
    block(book, ["F1", "F2", "F3"], ["COBIGWATER", "COBIGPOWER", "COBIGGAS"], T0, amount=20_000)
    for i in range(60):  # utilities are busy accounts
        for utility in ("COBIGWATER", "COBIGPOWER", "COBIGGAS"):
            book.pay(f"TOWN{i}", utility, 200, T0 + days(2))
    book.insert(con, flagged=["H1", "F1"])
    assert bipartite.detect(con, rule_for(bipartite, "G6"), WINDOW) == []


def test_sparse_block_does_not_fire(con):
    book = Payments()
    block(book, ["S1", "S2", "S3"], ["R1", "R2", "R3"], T0, skip={(0, 1), (1, 2), (2, 0), (2, 1)})
    book.insert(con, flagged=["S1"])
    assert bipartite.detect(con, rule_for(bipartite, "G6"), WINDOW) == []


def test_two_time_ordered_layers_fire_as_stack(con):
    book = Payments()
    block(book, ["S1", "S2", "S3"], ["L1", "L2", "L3"], T0)
    block(book, ["L1", "L2", "L3"], ["T1", "T2", "T3"], T0 + days(3), amount=48_000)
    book.insert(con, flagged=["S1"])
    alerts = bipartite.detect(con, rule_for(bipartite, "G7", "stack", min_layers=2), WINDOW)
    assert len(alerts) == 1 and alerts[0].metrics["layers"] == 2
    assert alerts[0].typology == "stack"


def test_second_layer_before_the_first_is_not_a_stack(con):
    book = Payments()
    block(book, ["S1", "S2", "S3"], ["L1", "L2", "L3"], T0 + days(5))
    block(book, ["L1", "L2", "L3"], ["T1", "T2", "T3"], T0)
    book.insert(con, flagged=["S1"])
    assert bipartite.detect(con, rule_for(bipartite, "G7", "stack", min_layers=2), WINDOW) == []
