"""The DuckDB → Spark SQL transpilation of the rule pack, without Java: every rule's SQL ports with its real
parameters bound, and the rewrites sqlglot does not make itself say in Spark what DuckDB means."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from detectors import DETECTORS, sweep
from detectors.base import Window
from pipelines.detection import spark
from pipelines.detection.runner import _with_settings, load_pack, run_detection
from pipelines.errors import ConfigError, FundflowError
from pipelines.settings import Settings


def pack_queries(settings) -> list[tuple[str, str, dict]]:
    """(rule id, SQL, bound values) for every rule whose detector's SQL goes to the engine."""
    window = Window(as_of=date(2026, 3, 31), days=30)
    queries = []
    for rule in load_pack(settings).rules:
        rule = _with_settings(rule, settings)
        module = DETECTORS[rule.detector]
        values = {field.name: getattr(rule.params, field.name) for field in dataclasses.fields(rule.params)}
        values.update(start=window.start, end=window.end, as_of=window.as_of, max_evidence=sweep.MAX_EVIDENCE)
        if hasattr(module, "SQL") and rule.detector not in spark.ON_SERVER:
            queries.append((rule.rule_id, module.SQL, values))
    return queries


def test_every_sweep_rule_transpiles_to_spark_with_its_parameters_bound(settings):
    queries = pack_queries(settings)
    assert {rule_id for rule_id, _, _ in queries} >= {"T1", "T2", "T5", "T11", "T14"}
    for rule_id, sql, values in queries:
        ported = spark.spark_sql(sql, values)
        assert ":start" not in ported and ":end" not in ported, rule_id
        # DuckDB's ordered aggregates keep their order: no bare collect_list over evidence
        if "ORDER BY amount_cny DESC, payment_id)" in sql:
            assert "ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT(" in ported, rule_id


def test_a_missing_parameter_is_named():
    with pytest.raises(KeyError, match="min_payers"):
        spark.spark_sql("SELECT 1 FROM payments WHERE amount_cny > $min_payers", {})


def test_ordered_array_agg_sorts_structs_by_the_order_by():
    ported = spark.spark_sql("SELECT array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS e FROM payments")
    assert ported == (
        "SELECT TRANSFORM(ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT('k0', amount_cny, 'k1', payment_id, 'v', payment_id)), "
        "(_left, _right) -> CASE WHEN _left.k0 < _right.k0 THEN 1 WHEN _left.k0 > _right.k0 THEN -1 "
        "WHEN _left.k1 < _right.k1 THEN -1 WHEN _left.k1 > _right.k1 THEN 1 ELSE 0 END), e -> e.v) AS e FROM payments"
    )


def test_distinct_ordered_array_agg_is_a_sorted_set_and_keeps_a_table_named_r():
    # T9's evidence: DISTINCT moved inside the struct, and a comparator `(l, r)` clashed with the alias r
    ported = spark.spark_sql("SELECT array_agg(DISTINCT r.reason ORDER BY r.reason) AS why FROM reasons AS r")
    assert ported == "SELECT ARRAY_SORT(COLLECT_SET(r.reason)) AS why FROM reasons AS r"
    descending = spark.spark_sql("SELECT array_agg(DISTINCT r.reason ORDER BY r.reason DESC) AS why FROM reasons AS r")
    assert descending == "SELECT REVERSE(ARRAY_SORT(COLLECT_SET(r.reason))) AS why FROM reasons AS r"
    with pytest.raises(ValueError, match="order by its own value"):
        spark.spark_sql("SELECT array_agg(DISTINCT r.reason ORDER BY r.day) FROM reasons AS r")


def test_a_filter_on_an_ordered_array_agg_goes_on_the_collect_and_no_passing_row_gives_null():
    # T9's link reasons: Spark refused `array_sort(…) FILTER (…)`; DuckDB gives NULL, not [], where no row passes
    ported = spark.spark_sql(
        "SELECT list(DISTINCT r.reason ORDER BY r.reason) FILTER (WHERE r.reason <> 'own') AS why FROM reasons AS r"
    )
    assert ported == (
        "SELECT CASE WHEN COUNT(*) FILTER(WHERE r.reason <> 'own') > 0 "
        "THEN ARRAY_SORT(COLLECT_SET(r.reason) FILTER(WHERE r.reason <> 'own')) END AS why FROM reasons AS r"
    )
    ordered = spark.spark_sql("SELECT array_agg(p ORDER BY a) FILTER (WHERE a > 1) AS e FROM payments")
    assert ordered == (
        "SELECT CASE WHEN COUNT(*) FILTER(WHERE a > 1) > 0 THEN TRANSFORM(ARRAY_SORT(COLLECT_LIST("
        "NAMED_STRUCT('k0', a, 'v', p)) FILTER(WHERE a > 1), (_left, _right) -> CASE WHEN _left.k0 < _right.k0 "
        "THEN -1 WHEN _left.k0 > _right.k0 THEN 1 ELSE 0 END), e -> e.v) END AS e FROM payments"
    )


def test_slices_intervals_and_epochs_are_rewritten():
    ported = spark.spark_sql(
        "SELECT ids[1:$n] AS a, epoch(b - c) AS d, sum(x) OVER (ORDER BY t RANGE BETWEEN CURRENT ROW AND "
        "INTERVAL 1 DAY * $days FOLLOWING) AS s, len($accounts) AS k, quantile_cont(n, 0.9) AS q FROM payments",
        {"n": 5, "days": 3, "accounts": ["A1"]},
    )
    assert "SLICE(ids, 1, 5 - 1 + 1) AS a" in ported
    assert "(UNIX_MICROS(CAST(b AS TIMESTAMP_LTZ)) - UNIX_MICROS(CAST(c AS TIMESTAMP_LTZ))) / 1000000.0" in ported
    assert "INTERVAL '3' DAY FOLLOWING" in ported
    assert "SIZE(ARRAY('A1')) AS k" in ported
    assert "PERCENTILE(n, 0.9) AS q" in ported


def test_values_are_bound_as_duckdb_types_them():
    assert spark.literal(0.3).sql("spark") == "CAST(0.3 AS DOUBLE)"
    assert spark.literal(datetime(2026, 3, 1, 8)).sql("spark") == "CAST('2026-03-01 08:00:00' AS TIMESTAMP_NTZ)"
    assert spark.literal(date(2026, 3, 1)).sql("spark") == "CAST('2026-03-01' AS DATE)"
    assert spark.literal(("投资", "it's")).sql("spark") == "ARRAY('投资', 'it\\'s')"
    assert spark.literal([]).sql("spark") == "CAST(ARRAY() AS ARRAY<STRING>)"
    with pytest.raises(ValueError):
        spark.literal(float("nan"))


def test_spark_values_come_back_typed_as_duckdb_types_them():
    assert spark._as_duckdb(Decimal("0.333333333333"), "DOUBLE") == pytest.approx(1 / 3)
    assert isinstance(spark._as_duckdb(Decimal("0.5"), "DOUBLE"), float)
    assert spark._as_duckdb(Decimal("12.3400"), "DECIMAL(38,2)") == Decimal("12.34")
    assert spark._as_duckdb(7, "BIGINT") == 7 and spark._as_duckdb(None, "DOUBLE") is None
    assert spark._as_duckdb([Decimal("1.5")], "DOUBLE[]") == [1.5]


def test_a_spark_variant_file_beside_the_sql_replaces_the_transpilation(tmp_path):
    module = tmp_path / "odd_rule.py"
    (tmp_path / "odd_rule.sql").write_text("SELECT list_reverse([1, {n}]) AS x", encoding="utf-8")
    (tmp_path / "odd_rule.spark.sql").write_text("SELECT reverse(array(1, {n})) AS x", encoding="utf-8")
    sql = sweep.read_sql(str(module))
    assert sweep.spark_variant(sql) == "SELECT reverse(array(1, {n})) AS x"
    # the variant is found by its file, so filling `{literals}` (whole_graph.run_sql) fills both the same way
    filled = sql.filled(n=7)
    assert filled == "SELECT list_reverse([1, 7]) AS x"
    assert spark.spark_sql(filled) == "SELECT REVERSE(ARRAY(1, 7)) AS x"
    with pytest.raises(TypeError, match="literal n"):
        sql.filled(n=1.5)
    # SQL that did not come from a rule's file has no variant: it is transpiled
    assert sweep.spark_variant("SELECT list_reverse([1, 7]) AS x") is None


def test_engine_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("FUNDFLOW_SPARK_MASTER", raising=False)
    monkeypatch.delenv("FUNDFLOW_ENGINE", raising=False)
    monkeypatch.delenv("FUNDFLOW_SPARK_DRIVER_MEMORY", raising=False)
    defaults = Settings.load(tmp_path)
    assert (defaults.detect_engine, defaults.spark_master, defaults.spark_tables) == ("duckdb", "local[2]", "")
    assert defaults.spark_driver_memory == "2g"
    monkeypatch.setenv("FUNDFLOW_ENGINE", "Spark")
    monkeypatch.setenv("FUNDFLOW_SPARK_MASTER", "spark://cluster:7077")
    monkeypatch.setenv("FUNDFLOW_SPARK_TABLES", "hive:fundflow")
    monkeypatch.setenv("FUNDFLOW_SPARK_DRIVER_MEMORY", "6g")
    cluster = Settings.load(tmp_path)
    assert (cluster.detect_engine, cluster.spark_master, cluster.spark_tables, cluster.spark_driver_memory) == (
        "spark",
        "spark://cluster:7077",
        "hive:fundflow",
        "6g",
    )
    monkeypatch.setenv("FUNDFLOW_SPARK_DRIVER_MEMORY", "6 GB")
    with pytest.raises(ConfigError, match="FUNDFLOW_SPARK_DRIVER_MEMORY"):
        Settings.load(tmp_path)
    monkeypatch.delenv("FUNDFLOW_SPARK_DRIVER_MEMORY")
    monkeypatch.setenv("FUNDFLOW_ENGINE", "flink")
    with pytest.raises(ConfigError, match="FUNDFLOW_ENGINE"):
        Settings.load(tmp_path)


def test_detect_refuses_an_unknown_engine(settings):
    from pipelines.cli import build_parser

    with pytest.raises(FundflowError, match="flink"):
        run_detection(settings, engine="flink")
    assert build_parser().parse_args(["detect", "--engine", "spark"]).engine == "spark"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["detect", "--engine", "flink"])


def test_the_warehouse_tables_export_as_parquet(warehouse, tmp_path):
    warehouse.execute(
        "INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, method, is_cash) "
        "VALUES ('P1', 'match_no', TIMESTAMP '2026-03-01 08:00:00', 12.5, 'TRANSFER', false)"
    )
    spark.export_tables(warehouse, tmp_path / "export")
    assert sorted(path.name for path in (tmp_path / "export").iterdir()) == sorted(
        f"{table}.parquet" for table in spark.SWEEP_TABLES
    )
    back = warehouse.execute(
        f"SELECT payment_id, amount_cny FROM read_parquet('{tmp_path / 'export' / 'payments.parquet'}')"
    ).fetchall()
    assert back == [("P1", Decimal("12.50"))]


def test_temp_tables_copy_to_spark_typed_and_g10_and_a1_stay_on_the_server(warehouse):
    assert [spark._spark_type(kind) for kind in ("INTEGER", "TIMESTAMP", "VARCHAR", "DECIMAL(18,2)")] == [
        "INT",
        "TIMESTAMP_NTZ",
        "STRING",
        "DECIMAL(18,2)",
    ]
    with pytest.raises(TypeError, match="MAP"):
        spark._spark_type("MAP(VARCHAR, INTEGER)")
    on_spark = spark.SparkConnection(session=None, con=warehouse)
    assert on_spark.for_detector("graph_cycle") is warehouse and on_spark.for_detector("anomaly") is warehouse
    assert on_spark.for_detector("graph_fan") is on_spark and on_spark.for_detector("fan_in") is on_spark


def test_the_whole_graph_edge_table_and_the_rules_reading_it_transpile(settings):
    """G8, G9 and G11–G13 read one edge table (whole_graph.EDGES_SQL); it and their SQL port to Spark."""
    from detectors import whole_graph

    window = Window(as_of=date(2026, 3, 31), days=30)
    edges = spark.spark_sql(whole_graph.EDGES_SQL, {"start": window.start, "end": window.end})
    assert "JOIN graph_window_days AS w ON w.day = CAST(p.txn_time AS DATE)" in edges
    ported = set()
    for rule in load_pack(settings).rules:
        module = DETECTORS[rule.detector]
        if getattr(module, "STAGE", "sweep") != whole_graph.STAGE or rule.detector == "graph_cycle":
            continue
        values = {field.name: getattr(rule.params, field.name) for field in dataclasses.fields(rule.params)}
        sql = sweep.read_sql(module.__file__).replace("{hop_seconds}", "864000")
        assert "FROM graph_edges" in spark.spark_sql(sql, values), rule.rule_id
        ported.add(rule.rule_id)
    assert ported == {"G8", "G9", "G11", "G12", "G13"}


def test_a_window_to_the_partitions_end_runs_backwards_with_the_same_values():
    # T2's clearing time: Spark recomputes a frame ending UNBOUNDED FOLLOWING for every row (quadratic)
    sql = (
        "SELECT id, min(CASE WHEN kind = 0 THEN t END) OVER (PARTITION BY a ORDER BY k, kind DESC "
        "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS cleared FROM moves"
    )
    ported = spark.spark_sql(sql)
    assert "ORDER BY k DESC NULLS FIRST, kind ASC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW" in ported
    # the reversed window gives DuckDB's own values, NULL keys and ties between kinds included
    reversed_sql = spark._running_backwards(sqlglot.parse_one(sql, read="duckdb").expressions[1].this)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE moves AS SELECT * FROM (VALUES (1, 'x', 1.0, 1, 10), (2, 'x', 1.0, 0, 20), (3, 'x', 2.0, 1, 30), "
        "(4, 'x', 3.0, 0, 40), (5, 'x', NULL, 0, 50), (6, 'y', 1.0, 1, 7), (7, 'y', 0.5, 0, 9)) v(id, a, k, kind, t)"
    )
    original = con.execute(sql + " ORDER BY id").fetchall()
    backwards = con.execute(f"SELECT id, {reversed_sql.sql('duckdb')} AS cleared FROM moves ORDER BY id").fetchall()
    assert backwards == original
    assert original == [(1, 20), (2, 20), (3, 40), (4, 40), (5, 50), (6, None), (7, 9)]
