"""The whole rule pack on Spark `local[2]` and on DuckDB over the same generated county gives the same alerts.

One Spark session serves the module. Each rule whose SQL goes to Spark is its own test (`-k T9` runs one rule on
both engines), run through the runner's own stage loop; the last test runs `run_detection --engine spark` end to
end on a few rules (parquet export, rings, the run's summary). Marked `spark`: it needs Java and pyspark, which
only `make test-spark` installs; `make test` leaves it out.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from detectors import DETECTORS
from detectors.base import Window
from detectors.pack import load_rule_pack
from pipelines.detection import spark
from pipelines.detection.runner import _run_stage, run_detection
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse

pytestmark = pytest.mark.spark

RULES_DIR = Path(__file__).resolve().parents[3] / "rules"
SPARK_RULES = sorted(
    (rule.rule_id, rule.detector)
    for rule in load_rule_pack(RULES_DIR).rules
    if getattr(DETECTORS[rule.detector], "STAGE", "sweep") in ("sweep", "whole")
    and rule.detector not in spark.ON_SERVER
)
"""(rule id, detector) of every rule of the pack whose SQL runs on Spark."""
WINDOW_DAYS = 30
"""One 30-day run window: each rule is one or two Spark jobs (every rule window is a job of its own)."""


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def county(tmp_path_factory, monkeypatch_module) -> Settings:
    from data_samples.generator import generate_county
    from pipelines.ingest.load import ingest_paths

    root = tmp_path_factory.mktemp("spark-county")
    generate_county(root / "county", persons=1000, days=45, schemes=3, seed=5)
    monkeypatch_module.delenv("FUNDFLOW_CASES_URL", raising=False)
    monkeypatch_module.setenv("FUNDFLOW_SPARK_MASTER", "local[2]")
    settings = Settings.load(root / "home")
    settings.ensure_folders()
    ingest_paths(settings, [root / "county" / "reports"], progress=False)
    return settings


@pytest.fixture(scope="module")
def on_duckdb(county):
    """The whole pack on DuckDB: the alerts each rule must give on Spark too."""
    return run_detection(county, window_days=WINDOW_DAYS, engine="duckdb")


@pytest.fixture(scope="module")
def spark_connection(county, on_duckdb):
    con = warehouse.connect(county)
    engine = spark.start_engine(county, con)
    try:
        yield engine.connection(con)
    finally:
        engine.close()
        con.close()


def same_value(duck, spark) -> bool:
    """Equal, or within rounding for numbers (metrics are rounded to 4 places, money to fen)."""
    if isinstance(duck, dict) and isinstance(spark, dict):
        return duck.keys() == spark.keys() and all(same_value(duck[k], spark[k]) for k in duck)
    if isinstance(duck, (list, tuple)) and isinstance(spark, (list, tuple)):
        return len(duck) == len(spark) and all(same_value(a, b) for a, b in zip(duck, spark))
    numbers = (int, float, Decimal)
    if isinstance(duck, numbers) and isinstance(spark, numbers) and not isinstance(duck, bool):
        return math.isclose(float(duck), float(spark), rel_tol=1e-6, abs_tol=1e-4)
    return duck == spark


def keyed(alerts) -> dict:
    return {(a.rule_id, a.subject_kind, a.subject, a.window_start, a.window_end): a for a in alerts}


def assert_same_alerts(duck_alerts, spark_alerts) -> None:
    duck, sparks = keyed(duck_alerts), keyed(spark_alerts)
    assert sorted(sparks) == sorted(duck)
    for key, alert in duck.items():
        other = sparks[key]
        assert same_value(alert.metrics, other.metrics), (key, alert.metrics, other.metrics)
        assert alert.evidence == other.evidence, key
        assert math.isclose(alert.strength, other.strength, abs_tol=1e-4), key
        assert (alert.reason_zh, alert.accounts) == (other.reason_zh, other.accounts), key


def test_the_county_makes_most_spark_rules_fire(on_duckdb):
    # a county with schemes: most sweep and whole-graph rules fire, so the comparison covers their SQL
    fired = {alert.rule_id for alert in on_duckdb.alerts} & {rule_id for rule_id, _ in SPARK_RULES}
    assert len(fired) >= 8, sorted(fired)


@pytest.mark.parametrize(("rule_id", "detector"), SPARK_RULES, ids=[rule_id for rule_id, _ in SPARK_RULES])
def test_a_rule_on_spark_gives_the_alerts_it_gives_on_duckdb(rule_id, detector, county, on_duckdb, spark_connection):
    rule = next(rule for rule in on_duckdb.rules if rule.rule_id == rule_id)
    stage = getattr(DETECTORS[detector], "STAGE", "sweep")
    window = Window(as_of=on_duckdb.as_of, days=WINDOW_DAYS)
    found = _run_stage(spark_connection, (rule,), stage, window)
    assert_same_alerts([alert for alert in on_duckdb.alerts if alert.rule_id == rule_id], found)


def test_detect_with_engine_spark_writes_the_runs_alerts_and_rings(county, on_duckdb, spark_connection, tmp_path):
    # the runner's seam on a few rules (fan-in, memo words, a whole-graph rule): the same alerts and rings, the
    # engine in the run's summary, the parquet export gone after the run
    few = tmp_path / "rules"
    shutil.copytree(county.rules_dir, few)
    kept = {"t1_fan_in.yaml", "t5_memo_keywords.yaml", "g8_graph_fan_in.yaml"}
    for rule_file in few.glob("[tga][0-9]*.yaml"):
        if rule_file.name not in kept:
            rule_file.unlink()
    (few / "leads.yaml").unlink()  # its opening rules name rules left out; detect does not read it
    settings = dataclasses.replace(county, rules_dir=few)
    assert {rule.rule_id for rule in load_rule_pack(few).rules} == {"T1", "T5", "G8"}
    exports_before = set(county.tmp.glob("spark-*"))  # the module's own session has one
    on_spark = run_detection(settings, window_days=WINDOW_DAYS, engine="spark")
    assert on_spark.engine == "spark"
    kept_alerts = [alert for alert in on_duckdb.alerts if alert.rule_id in ("T1", "T5", "G8")]
    assert_same_alerts(kept_alerts, on_spark.alerts)
    assert on_spark.alerts, "T1, T5 and G8 fire in this county"
    on_few_duckdb = run_detection(settings, window_days=WINDOW_DAYS, engine="duckdb")
    assert on_spark.rings == on_few_duckdb.rings and on_spark.alerts_per_rule == on_few_duckdb.alerts_per_rule

    con = warehouse.connect(county)
    try:
        summary = con.execute("SELECT summary FROM runs WHERE run_id = ?", [on_spark.run_id]).fetchone()[0]
    finally:
        con.close()
    assert '"engine": "spark"' in summary
    assert set(county.tmp.glob("spark-*")) == exports_before, "the run's parquet export is removed after the run"
