import shutil
import statistics
import tempfile
from dataclasses import replace
from datetime import date

import pytest

from detectors import DETECTORS, anomaly, scoring
from detectors.base import Window
from detectors.pack import load_rule_pack
from pipelines.settings import PROJECT_ROOT
from pipelines.warehouse.db import connect_memory
from tests.builders import add_parties, add_payments, day, party, pay
from tests.detectors.scoring_population import HUB, build_county

WINDOW = Window(date(2025, 3, 31), 90)


def a1_rule(**changes):
    """A1 as rules/a1_anomaly.yaml defines it, loaded alone with the shared keyword list."""
    with tempfile.TemporaryDirectory() as folder:
        for name in ("a1_anomaly.yaml", "keywords.yaml"):
            shutil.copy(PROJECT_ROOT / "rules" / name, folder)
        rule = load_rule_pack(folder).rule("A1")
    return replace(rule, params=replace(rule.params, **changes))


@pytest.fixture
def county():
    con = connect_memory()
    build_county(con)
    yield con
    con.close()


def test_account_features_hand_checked():
    con = connect_memory()
    add_payments(
        con,
        [
            pay("P1", "A", 10000, day(0, 10), payer_birth=date(1950, 1, 1), memo="投资款"),
            pay("P2", "A", 5500, day(1, 23)),
            pay("ORGX", "A", 3000, day(2, 10)),
            pay("A", "B", 9000, day(0, 16)),
            pay("A", None, 6000, day(2, 12)),
            pay("A", "B", 2000, day(4, 10)),
        ],
    )
    add_parties(con, [party("A", opened=date(2025, 1, 1))])
    rows = scoring.account_features(con, WINDOW, min_txn=2).rows(named=True)
    found = {row["account_no"]: row for row in rows}
    assert set(found) == {"A", "B"}  # P1, P2, ORGX have one payment each
    a = found["A"]
    assert (a["n_in"], a["n_out"], a["payers"], a["payees"]) == (3, 3, 3, 1)  # cash has no counterparty
    assert a["amount_in"] == 18500 and a["amount_out"] == 17000
    assert a["individual_payer_share"] == pytest.approx(2 / 3)
    assert a["elderly_payer_share"] == pytest.approx(1 / 2)
    assert a["pass_through"] == pytest.approx(17000 / 18500)
    assert a["median_hold_hours"] == pytest.approx(6.0)  # holds of 6 h, 2 h and 48 h
    assert a["out_interval_cv"] == pytest.approx(2**0.5 / 45)  # gaps of 44 h and 46 h
    assert a["round_in_share"] == pytest.approx(2 / 3)
    assert a["unit_in_share"] is None  # fewer than 5 inflows
    assert a["out_amount_cv"] == pytest.approx(3511.88 / 5666.67, rel=1e-4)
    assert a["night_share"] == pytest.approx(1 / 6)
    assert a["cash_out_share"] == pytest.approx(6000 / 17000)
    assert a["keyword_share"] == pytest.approx(1 / 6)
    assert a["account_age_days"] == 89
    assert found["B"]["account_age_days"] is None  # not a reporting customer: age unknown


def test_holds_and_out_gaps_at_equal_times():
    # An inflow at the very second of an outflow is the money it moves on (hold 0); an outflow before any
    # inflow has no hold; two outflows in one second are 0 s apart. Every outflow has one gap to the previous.
    con = connect_memory()
    add_payments(
        con,
        [
            pay("C", "B", 100, day(0, 8)),
            pay("P", "C", 900, day(1, 10)),
            pay("C", "B", 200, day(1, 10)),
            pay("C", "B", 300, day(1, 10)),
            pay("C", "B", 400, day(2, 10)),
        ],
    )
    c = {row["account_no"]: row for row in scoring.account_features(con, WINDOW).rows(named=True)}["C"]
    assert c["median_hold_hours"] == pytest.approx(0.0)  # holds of 0 h, 0 h and 24 h; none for the first
    gaps = [26.0, 0.0, 24.0]  # hours after the previous outflow
    assert c["out_interval_cv"] == pytest.approx(statistics.stdev(gaps) / statistics.mean(gaps))


def test_account_features_respect_the_window():
    con = connect_memory()
    add_payments(con, [pay("P1", "A", 100, day(0)), pay("P2", "A", 100, day(95))])
    rows = scoring.account_features(con, WINDOW).rows(named=True)
    assert {row["account_no"]: row["n_in"] for row in rows}["A"] == 1


def test_the_anomaly_detector_is_registered_and_its_rule_loads():
    assert DETECTORS["anomaly"] is anomaly
    rule = a1_rule()
    assert rule.detector == "anomaly" and rule.params.memo_keywords  # the shared keyword list reached it


def test_planted_hub_ranks_top_with_readable_reasons(county):
    alerts = anomaly.detect(county, a1_rule(), WINDOW)
    assert alerts and alerts[0].subject == HUB
    top = alerts[0]
    assert top.metrics["rank"] == 1 and top.metrics["scored_accounts"] == 201
    named = top.metrics["top_features"]
    assert len(named) == 3
    # every named feature appears in both reasons with its value and the population median
    for item in named:
        feature = scoring.FEATURE_BY_NAME[item["feature"]]
        zh = (
            f"{feature.label_zh} {scoring.format_value(feature, item['value'], 'zh')}（中位数 "
            f"{scoring.format_value(feature, item['median'], 'zh')}）"
        )
        en = (
            f"{feature.label_en} {scoring.format_value(feature, item['value'], 'en')} (median "
            f"{scoring.format_value(feature, item['median'], 'en')})"
        )
        assert zh in top.reason_zh and en in top.reason_en
    assert "转入笔数 150（中位数" in top.reason_zh
    assert top.reason_zh.startswith("90 天内账户特征异常（异常分 ")
    assert 0.5 <= top.strength <= 1.0
    assert len(top.evidence) == 50 and top.accounts == (HUB,)


def test_named_features_are_the_most_unusual_ones(county):
    features = scoring.account_features(county, WINDOW, min_txn=10)
    scored = scoring.score_accounts(features)
    hub = scored.accounts.index(HUB)
    named = scored.explain(hub, top=3)
    weakest_named = min(abs(c.z) for c in named)
    others = [
        abs(z)
        for name, z in zip([f.name for f in scoring.ACCOUNT_FEATURES], scored.z[hub])
        if name not in {c.feature.name for c in named}
    ]
    assert weakest_named >= max(others)


@pytest.mark.parametrize("seed", [1, 2])
def test_without_the_hub_nothing_passes_min_score(seed):
    clean, planted = connect_memory(), connect_memory()
    build_county(clean, seed=seed, with_hub=False)
    build_county(planted, seed=seed, with_hub=True)
    assert anomaly.detect(clean, a1_rule(min_score=0.7), WINDOW) == []
    assert [a.subject for a in anomaly.detect(planted, a1_rule(min_score=0.7), WINDOW)] == [HUB]


def test_raising_min_score_never_adds_alerts(county):
    loose = {a.subject for a in anomaly.detect(county, a1_rule(min_score=0.5), WINDOW)}
    strict = {a.subject for a in anomaly.detect(county, a1_rule(min_score=0.7), WINDOW)}
    assert strict <= loose and HUB in strict
    assert anomaly.detect(county, a1_rule(min_score=0.99), WINDOW) == []


def test_too_small_a_population_gives_no_alerts(county):
    assert anomaly.detect(county, a1_rule(min_accounts=500), WINDOW) == []
    assert anomaly.detect(county, a1_rule(min_accounts=201), WINDOW)


def test_same_data_in_another_order_gives_the_same_alerts(county):
    shuffled = connect_memory()
    for table, order in (("payments", "md5(payment_id)"), ("parties", "account_no DESC")):
        rows = county.execute(f"SELECT * FROM {table} ORDER BY {order}").arrow()
        shuffled.register("rows", rows)
        shuffled.execute(f"INSERT INTO {table} SELECT * FROM rows")
        shuffled.unregister("rows")
    first = anomaly.detect(county, a1_rule(), WINDOW)
    second = anomaly.detect(shuffled, a1_rule(), WINDOW)
    assert [(a.subject, a.reason_zh, a.strength) for a in first] == [
        (a.subject, a.reason_zh, a.strength) for a in second
    ]
