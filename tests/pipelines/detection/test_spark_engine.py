"""The whole rule pack on Spark `local[2]` and on DuckDB over the same generated county gives the same alerts.

Marked `spark`: it needs Java and pyspark, which only `make test-spark` installs; `make test` leaves it out.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from detectors import DETECTORS
from pipelines.detection import spark
from pipelines.detection.runner import run_detection
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def county_settings(tmp_path_factory, monkeypatch_module) -> Settings:
    from data_samples.generator import generate_county
    from pipelines.ingest.load import ingest_paths

    root = tmp_path_factory.mktemp("spark-county")
    generate_county(root / "county", persons=1500, days=60, schemes=3, seed=5)
    monkeypatch_module.delenv("FUNDFLOW_CASES_URL", raising=False)
    monkeypatch_module.setenv("FUNDFLOW_SPARK_MASTER", "local[2]")
    settings = Settings.load(root / "home")
    settings.ensure_folders()
    ingest_paths(settings, [root / "county" / "reports"], progress=False)
    return settings


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


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


def test_the_rule_pack_on_spark_gives_the_alerts_duckdb_gives(county_settings):
    # a 30-day run: each rule on one window (the machine is small; every window is a Spark job of its own)
    on_duckdb = run_detection(county_settings, window_days=30, engine="duckdb")
    on_spark = run_detection(county_settings, window_days=30, engine="spark")
    assert on_spark.engine == "spark" and on_duckdb.engine == "duckdb"

    def keyed(result):
        return {(a.rule_id, a.subject_kind, a.subject, a.window_start, a.window_end): a for a in result.alerts}

    duck, sparks = keyed(on_duckdb), keyed(on_spark)
    on_spark_rules = {
        rule.rule_id
        for rule in on_duckdb.rules
        if DETECTORS[rule.detector].STAGE in ("sweep", "whole") and rule.detector not in spark.ON_SERVER
    }
    fired = {key[0] for key in duck}
    # a county with schemes: most sweep and whole-graph rules fire, so the comparison covers their SQL
    assert len(fired & on_spark_rules) >= 8, sorted(fired)
    assert sorted(sparks) == sorted(duck)
    for key, alert in duck.items():
        other = sparks[key]
        assert same_value(alert.metrics, other.metrics), (key, alert.metrics, other.metrics)
        assert alert.evidence == other.evidence, key
        assert math.isclose(alert.strength, other.strength, abs_tol=1e-4), key
        assert (alert.reason_zh, alert.accounts) == (other.reason_zh, other.accounts), key
    assert on_spark.rings == on_duckdb.rings and on_spark.alerts_per_rule == on_duckdb.alerts_per_rule

    con = warehouse.connect(county_settings)
    try:
        summary = con.execute("SELECT summary FROM runs WHERE run_id = ?", [on_spark.run_id]).fetchone()[0]
        exported = list(county_settings.tmp.glob("spark-*"))
    finally:
        con.close()
    assert '"engine": "spark"' in summary
    assert exported == [], "the run's parquet export is removed after the run"
