"""The runner: windows, the record of a run, alert ids and scores, and invariants over a small mixed county
(shuffling payments changes nothing; raising a threshold never adds alerts)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import date, timedelta

import pytest

from detectors import DETECTORS
from detectors.base import Window, alert_id
from detectors.pack import load_rule_pack
from pipelines.detection.runner import rule_windows, run_detection
from pipelines.warehouse.db import connect_memory
from tests.builders import add_parties, add_payments, day, party, pay
from tests.detectors.conftest import RULES

AS_OF = date(2025, 3, 31)  # day 89: a 90-day run covers day 0 … day 89
OLD = date(1948, 6, 1)


def small_county(seed: int) -> list[dict]:
    """A scheme (investors → collectors → hub → boss, cash-out), a school, a shop, and background transfers."""
    rng = random.Random(seed)
    rows = []
    for i in range(100):
        collector = f"COLL{i % 3}"
        when = day(60 + i % 15, 9 + i % 12)  # 15 days: half a 30-day window, so whole in one of its windows
        rows.append(
            pay(
                f"INV{i}",
                collector,
                10_000 * rng.randint(1, 5),
                when,
                payer_birth=OLD if i % 2 else date(1975, 1, 1),
                memo="复投" if i % 4 == 0 else None,
                payer_region=rng.choice(["110101", "440106", "510104", "330782"]),
                method="ONLINE",
            )
        )
    rows += [pay("HUB", "BOSS", 1_200_000, day(85)), pay("HUB", None, 1_000_000, day(86))]
    rows += [pay(f"PARENT{i}", "ORG_SCHOOL", 3_000, day(i % 60)) for i in range(150)]
    rows += [pay("ORG_SCHOOL", f"TEACHER{i}", 9_000, day(m * 30 + 25)) for i in range(30) for m in range(3)]
    rows += [
        pay(f"SHOPPER{i}", "ORG_SHOP", round(rng.uniform(20, 300), 2), day(rng.randint(0, 89), rng.randint(8, 21)))
        for i in range(300)
    ]
    rows += [
        pay(
            f"BG{rng.randint(0, 60)}",
            f"BG{rng.randint(0, 60)}",
            round(rng.uniform(100, 20_000), 2),
            day(rng.randint(0, 89), rng.randint(7, 22)),
        )
        for _ in range(400)
    ]
    # collectors forward each day's takings to the hub within hours
    takings: dict[tuple[str, int], float] = {}
    for row in rows:
        if row["payee_account"] and row["payee_account"].startswith("COLL"):
            key = (row["payee_account"], (row["txn_time"] - day(0, 0)).days)
            takings[key] = takings.get(key, 0) + row["amount_cny"]
    rows = [row for row in rows if not (row["payer_account"] or "").startswith("COLL")]
    rows += [pay(collector, "HUB", amount, day(d, 23)) for (collector, d), amount in sorted(takings.items())]
    return rows


def load(rows: list[dict]):
    con = connect_memory()
    add_payments(con, rows)
    add_parties(con, [party("HUB", opened=date(2025, 1, 20))])
    return con


def run_pack(con, rules) -> set[tuple]:
    """(rule, subject) of every sweep alert over the run window, strongest window kept, as the runner does."""
    found = set()
    run_window = Window(as_of=AS_OF, days=90)
    for rule in rules:
        module = DETECTORS[rule.detector]
        if module.STAGE != "sweep" or rule.rule_id[0] != "T":
            continue
        for window in rule_windows(rule, run_window):
            found |= {
                (alert.rule_id, alert.subject, json.dumps(alert.metrics, sort_keys=True))
                for alert in module.detect(con, rule, window)
            }
    return found


def my_rules(pack):
    return [
        dataclasses.replace(rule, params=dataclasses.replace(rule.params, home_region="330782"))
        if hasattr(rule.params, "home_region")
        else rule
        for rule in pack.rules
    ]


@pytest.fixture(scope="module")
def rows():
    return small_county(seed=3)


def test_rule_windows_step_back_by_half_on_a_calendar_grid_inside_the_run():
    """T1 looks at 30 days: the newest window ends at as_of, the earlier ones every 15 days on a grid that does not
    move with as_of (2025-03-25 is a multiple of 15 days from day 1), the earliest starts with the run."""
    rule = load_rule_pack(RULES).rule("T1")
    windows = rule_windows(rule, Window(as_of=AS_OF, days=90))
    assert [(w.as_of.isoformat(), w.days) for w in windows] == [
        ("2025-03-31", 30),
        ("2025-03-25", 30),
        ("2025-03-10", 30),
        ("2025-02-23", 30),
        ("2025-02-08", 30),
        ("2025-01-30", 30),
    ]
    assert date(2025, 3, 25).toordinal() % 15 == 0
    assert windows[-1].start == Window(as_of=AS_OF, days=90).start
    assert [w.days for w in rule_windows(load_rule_pack(RULES).rule("T10"), Window(as_of=AS_OF, days=60))] == [90]


@pytest.mark.parametrize("window_days", [7, 20, 30, 45])
def test_the_next_days_rule_windows_are_todays_but_the_newest_and_earliest(window_days):
    """Every day of the run is in a window; consecutive windows overlap by at least half a window (a burst of half
    a window's length is whole in one); tomorrow's run shares all of today's windows but the newest and the one at
    the run's start, so their kept alerts apply."""
    rule = load_rule_pack(RULES).rule("T1")
    rule = dataclasses.replace(rule, params=dataclasses.replace(rule.params, window_days=window_days))
    for shift in range(window_days):
        today = Window(as_of=AS_OF + timedelta(days=shift), days=90)
        windows = rule_windows(rule, today)
        days_in = {w.start.date() + timedelta(days=i) for w in windows for i in range(w.days)}
        assert days_in == {today.start.date() + timedelta(days=i) for i in range(90)}
        ends = sorted(w.as_of for w in windows)
        assert all((later - earlier).days <= window_days // 2 for earlier, later in zip(ends, ends[1:]))
        tomorrow = rule_windows(rule, Window(as_of=today.as_of + timedelta(days=1), days=90))
        assert len(set(windows[1:-1]) - set(tomorrow)) <= 1  # one leaves the run's start when the grid moves on
        assert len(set(tomorrow) - set(windows)) <= 2


def test_run_records_alerts_with_ids_scores_and_the_pack_hash(settings, warehouse, rows):
    add_payments(warehouse, rows)
    result = run_detection(settings, con=warehouse)
    assert result.as_of == AS_OF and result.window_days == 90
    fired = {(alert.rule_id, alert.subject) for alert in result.alerts}
    assert {("T1", "COLL0"), ("T2", "COLL0"), ("T5", "COLL0"), ("T6", "COLL1"), ("T11", "HUB")} <= fired
    assert not {
        (rule, subject)
        for rule, subject in fired
        if rule in ("T1", "T2", "T10", "T11") and subject in ("ORG_SCHOOL", "ORG_SHOP")
    }
    stored = warehouse.execute(
        "SELECT alert_id, run_id, rule_id, rule_pack_hash, score, subject, window_start FROM alerts"
    ).fetchall()
    assert len(stored) == len(result.alerts)
    weights = {rule.rule_id: rule.weight for rule in result.rules}
    by_id = dict(zip(result.alert_ids, result.alerts))
    for identity, run_id, rule_id, pack_hash, score, _subject, _window_start in stored:
        alert = by_id[identity]
        assert identity == alert_id(run_id, alert) and run_id == result.run_id
        assert pack_hash == result.rule_pack_hash
        assert score == pytest.approx(weights[rule_id] * alert.strength, abs=1e-4)
    # one alert per (rule, subject): the strongest window
    assert len(fired) == len(result.alerts)
    status, summary, pack_hash = warehouse.execute(
        "SELECT status, summary, rule_pack_hash FROM runs WHERE run_id = ?", [result.run_id]
    ).fetchone()
    assert status == "ok" and pack_hash == result.rule_pack_hash
    assert json.loads(summary)["alerts_per_rule"]["T1"] == result.alerts_per_rule["T1"] == 3  # the 3 collectors


def test_shuffling_payment_order_changes_nothing(rows):
    rules = my_rules(load_rule_pack(RULES))
    shuffled = list(rows)
    random.Random(7).shuffle(shuffled)
    found = run_pack(load(rows), rules)
    assert found == run_pack(load(shuffled), rules)
    assert len(found) >= 8


def raised(params, factor: float):
    """Every minimum raised and every maximum lowered by `factor` (window lengths and units left alone)."""
    changes = {}
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if field.name.startswith("min_"):
            if isinstance(value, int):
                changes[field.name] = math.ceil(value * factor)
            else:
                changes[field.name] = min(value * factor, 1.0) if value <= 1 else value * factor
        elif field.name.startswith("max_"):
            changes[field.name] = value / factor if isinstance(value, float) else max(int(value / factor), 1)
    return dataclasses.replace(params, **changes)


@pytest.mark.parametrize("factor", [1.5])
def test_raising_thresholds_never_adds_alerts(rows, factor):
    con = load(rows)
    rules = my_rules(load_rule_pack(RULES))
    stricter = [dataclasses.replace(rule, params=raised(rule.params, factor)) for rule in rules]
    subjects = {(rule, subject) for rule, subject, _ in run_pack(con, rules)}
    strict_subjects = {(rule, subject) for rule, subject, _ in run_pack(con, stricter)}
    assert strict_subjects <= subjects
    assert len(strict_subjects) < len(subjects)
