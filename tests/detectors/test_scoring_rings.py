from datetime import datetime

import pytest

from detectors import scoring
from pipelines.warehouse import connect_memory
from tests.builders import add_payments, day, pay

START, END = datetime(2025, 1, 1), datetime(2025, 4, 1)


def add_ring(con, ring_id, run_id, members, window_end=END, score=2.5, typologies=("fan_in", "cycle")):
    con.execute(
        "INSERT INTO rings VALUES (?, ?, ?, ?, [], ['a1', 'a2'], ?, ?, ?, 40000, 30000, 3, 0.5, ['33', '11'], "
        "?, ['x', 'y', 'z'])",
        [ring_id, run_id, members[0], members, list(typologies), START, window_end, score])


@pytest.fixture
def con():
    con = connect_memory()
    add_payments(con, [
        pay("P1", "HUB", 10000, day(5)), pay("P2", "HUB", 10000, day(6)), pay("P3", "C1", 20000, day(7)),
        pay("C1", "HUB", 20000, day(8)),       # member → member
        pay("HUB", "C2", 30000, day(9)),       # member → member
        pay("C2", "HUB", 100, day(10)),        # the reverse pair counts separately
        pay("HUB", "C2", 100, day(11)),        # a repeated pair counts once
    ])
    for alert_id, rule_id, score in (("a1", "T1", 3.0), ("a2", "G3", 1.5)):
        con.execute("INSERT INTO alerts VALUES (?, 'run1', ?, '1', 'h', 'fan_in', 'account', 'HUB', ?, ?, '{}', "
                    "[], ?, 'zh', 'en', ?)", [alert_id, rule_id, START, END, score, END])
    add_ring(con, "r1", "run1", ["HUB", "C1", "C2"])
    yield con
    con.close()


def test_ring_features_hand_checked(con):
    row = scoring.ring_features(con, run_id="run1").row(0, named=True)
    assert (row["ring_id"], row["hub_account"], row["first_activity"]) == ("r1", "HUB", day(5))
    assert row["rule_score"] == 2.5 and row["n_members"] == 3 and row["n_evidence"] == 3
    assert (row["n_alerts"], row["n_rules"], row["max_alert_score"]) == (2, 2, 3.0)
    assert row["n_typologies"] == 2 and row["n_provinces"] == 2
    assert row["ring_pass_through"] == pytest.approx(0.75)
    assert row["internal_density"] == pytest.approx(3 / 6)  # C1→HUB, HUB→C2, C2→HUB of 6 ordered pairs
    assert row["hub_in_share"] == 1.0  # the hub took ¥40,100 of the ring's ¥40,000: capped at 1
    assert row["hub_payers"] == 4 and row["hub_round_in_share"] == pytest.approx(3 / 4)
    assert (row["has_fan_in"], row["has_cycle"], row["has_anomaly"]) == (1.0, 1.0, 0.0)
    assert set(scoring.RING_FEATURES) <= set(row)


def test_without_a_run_each_ring_is_taken_as_first_seen(con):
    add_ring(con, "r1", "run0", ["HUB", "C1"], window_end=datetime(2025, 3, 1), score=1.0)
    add_ring(con, "r1", "run2", ["HUB", "C1", "C2"], window_end=datetime(2025, 5, 1), score=9.0)
    first = scoring.ring_features(con)
    assert first.height == 1 and first.row(0, named=True)["run_id"] == "run0"
    assert first.row(0, named=True)["rule_score"] == 1.0
    assert scoring.ring_features(con, run_id="run2").row(0, named=True)["rule_score"] == 9.0


def test_no_rings_gives_an_empty_table_with_every_feature():
    empty = scoring.ring_features(connect_memory())
    assert empty.is_empty() and set(scoring.RING_FEATURES) <= set(empty.columns)
