from datetime import datetime

import pytest

from detectors import scoring
from pipelines.warehouse.db import connect_memory
from tests.builders import add_payments, day, pay

START, END = datetime(2025, 1, 1), datetime(2025, 4, 1)


def add_ring(con, ring_id, run_id, members, window_end=END, score=2.5, typologies=("fan_in", "cycle")):
    con.execute(
        "INSERT INTO rings VALUES (?, ?, ?, ?, [], ['a1', 'a2'], ?, ?, ?, 40000, 30000, 3, 0.5, ['33', '11'], "
        "?, ['x', 'y', 'z'])",
        [ring_id, run_id, members[0], members, list(typologies), START, window_end, score],
    )


@pytest.fixture
def con():
    con = connect_memory()
    add_payments(
        con,
        [
            pay("P1", "HUB", 10000, day(5)),
            pay("P2", "HUB", 10000, day(6)),
            pay("P3", "C1", 20000, day(7)),
            pay("C1", "HUB", 20000, day(8)),  # member → member
            pay("HUB", "C2", 30000, day(9)),  # member → member
            pay("C2", "HUB", 100, day(10)),  # the reverse pair counts separately
            pay("HUB", "C2", 100, day(11)),  # a repeated pair counts once
        ],
    )
    for alert_id, rule_id, score in (("a1", "T1", 3.0), ("a2", "G3", 1.5)):
        con.execute(
            "INSERT INTO alerts VALUES (?, 'run1', ?, '1', 'h', 'fan_in', 'account', 'HUB', ?, ?, '{}', "
            "[], ?, 'zh', 'en', ?)",
            [alert_id, rule_id, START, END, score, END],
        )
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


def add_alert(con, alert_id, run_id, subject, score, typology="fan_in", kind="account", end=END):
    con.execute(
        "INSERT INTO alerts VALUES (?, ?, 'T1', '1', 'h', ?, ?, ?, ?, ?, '{}', [], ?, 'zh', 'en', ?)",
        [alert_id, run_id, typology, kind, subject, START, end, score, end],
    )


def test_alerted_accounts_are_subjects_and_actor_accounts_as_first_alerted(con):
    # run1 (the fixture): a1 T1 3.0 and a2 G3 1.5, both fan_in on HUB
    add_alert(con, "a3", "run1", "ACT1", 2.0, typology="controlled_accounts", kind="actor")
    con.execute(
        "INSERT INTO actor_accounts VALUES ('ACT1', 'HUB', 'phone'), ('ACT1', 'HUB', 'device'), ('ACT1', 'C1', 'phone')"
    )
    later = datetime(2025, 5, 1)
    add_alert(con, "b1", "run2", "HUB", 9.0, end=later)  # HUB was already alerted by run1
    add_alert(con, "b2", "run2", "C2", 4.0, typology="cash_out", end=later)
    rows = {row["account_no"]: row for row in scoring.alerted_account_features(con).iter_rows(named=True)}
    assert set(rows) == {"HUB", "C1", "C2"}
    hub, c1, c2 = rows["HUB"], rows["C1"], rows["C2"]
    assert (hub["run_id"], hub["window_end"]) == ("run1", END)
    # the actor alert counts once for HUB although two links tie HUB to ACT1
    assert (hub["rule_score"], hub["n_alerts"], hub["max_alert_score"]) == (6.5, 3.0, 3.0)
    assert (hub["score_fan_in"], hub["score_controlled_accounts"], hub["score_cash_out"]) == (4.5, 2.0, 0.0)
    assert (c1["run_id"], c1["rule_score"], c1["first_activity"]) == ("run1", 2.0, day(7))
    assert hub["first_activity"] == day(5) and hub["payers"] == 4.0
    assert (c2["run_id"], c2["window_end"], c2["score_cash_out"]) == ("run2", later, 4.0)
    only_run2 = scoring.alerted_account_features(con, run_id="run2")
    assert only_run2["account_no"].to_list() == ["C2", "HUB"] and only_run2["rule_score"].to_list() == [4.0, 9.0]
    assert set(scoring.ALERTED_ACCOUNT_FEATURES) <= set(only_run2.columns)


def test_no_alerts_gives_an_empty_account_table_with_every_feature():
    empty = scoring.alerted_account_features(connect_memory())
    assert empty.is_empty() and set(scoring.ALERTED_ACCOUNT_FEATURES) <= set(empty.columns)
