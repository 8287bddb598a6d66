"""The Spark engine: the sweep rules' SQL, written once in DuckDB's dialect, run on Spark SQL.

Each query is transpiled with sqlglot (DuckDB → Spark), its `$name` parameters bound as literals; a rule whose
SQL is not portable has a Spark variant beside it (`fan_in.spark.sql` beside `fan_in.sql`). The tables it reads
are the warehouse's, exported as parquet for the run, or an office's own parquet folder or Hive database.
Rows come back typed as DuckDB would type them (from DuckDB's DESCRIBE of the same query), so the detectors
build the same alerts from them whichever engine ran the SQL.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from detectors import sweep
from pipelines.errors import ConfigError

log = logging.getLogger("fundflow.detection")

SWEEP_TABLES = ("payments", "parties", "actors", "actor_accounts")
"""The warehouse tables the sweep SQL reads (exported as parquet, or found at the office's location)."""
HIVE_PREFIX = "hive:"
"""FUNDFLOW_SPARK_TABLES=hive:<database> reads the tables from that Hive database."""


# ---------------------------------------------------------------------------------------------- transpiling


def spark_sql(duckdb_sql: str, values: dict[str, Any] | None = None) -> str:
    """The Spark SQL of a DuckDB query: its Spark variant file when it has one, else sqlglot's transpilation
    with the few rewrites sqlglot does not make itself (ordered array_agg, epoch of an interval, list slices);
    `$name` parameters become literals of `values` (a name not in `values` raises KeyError naming it)."""
    tree = _parsed(duckdb_sql, sweep.spark_variant(duckdb_sql)).copy()
    if values is not None:
        tree = tree.transform(lambda node: _bound(node, values))
    tree = tree.transform(_portable)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


@functools.lru_cache(maxsize=64)
def _parsed(duckdb_sql: str, variant: str | None) -> exp.Expr:
    """Parsed once per query text: a rule runs on several windows, each with its own values."""
    if variant is not None:
        return sqlglot.parse_one(variant, read="spark")
    return sqlglot.parse_one(duckdb_sql, read="duckdb")


def _bound(node: exp.Expr, values: dict[str, Any]) -> exp.Expr:
    if isinstance(node, (exp.Placeholder, exp.Parameter)) and isinstance(node.this, str):
        return literal(values[node.this])
    if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Var):
        return literal(values[node.this.name])
    return node


def literal(value: Any) -> exp.Expr:
    """A Python value as a Spark SQL literal typed as DuckDB binds it (a float is a DOUBLE, not a DECIMAL)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot bind {value!r} in Spark SQL")
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.build("DOUBLE"))
    if isinstance(value, Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("TIMESTAMP_NTZ"))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return exp.cast(exp.Array(expressions=[]), exp.DataType.build("ARRAY<STRING>", dialect="spark"))
        return exp.Array(expressions=[literal(item) for item in value])
    raise TypeError(f"cannot bind {type(value).__name__} in Spark SQL")


def _portable(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        return _ordered_collect(node.this)
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg) and isinstance(node.this.this, exp.Order):
        # array_agg(… ORDER BY …) FILTER (WHERE c): the filter belongs on the collect inside the rewrite (Spark
        # refuses it on array_sort); a group where no row passes gets NULL, as in DuckDB (Spark's collect gives [])
        condition = node.expression
        passed = exp.Filter(this=exp.Count(this=exp.Star()), expression=condition.copy())
        return exp.Case().when(
            exp.GT(this=passed, expression=exp.Literal.number(0)), _ordered_collect(node.this.this, condition)
        )
    if isinstance(node, exp.Window) and _to_the_end(node):
        return _running_backwards(node)
    if isinstance(node, exp.TimeToUnix) and isinstance(node.this, exp.Sub):
        # epoch(a - b) of two timestamps: DuckDB gives the interval's seconds (fractional)
        later, earlier = node.this.this, node.this.expression

        # (the session's time zone is UTC, so seeing the wall-clock times as UTC instants changes no difference)
        def micros(moment: exp.Expr) -> exp.Expr:
            return exp.func("unix_micros", exp.cast(moment.copy(), exp.DataType.build("TIMESTAMPLTZ")))

        difference = exp.Paren(this=exp.Sub(this=micros(later), expression=micros(earlier)))
        return exp.Paren(this=exp.Div(this=difference, expression=exp.Literal.number("1000000.0")))
    if isinstance(node, exp.Mul) and isinstance(node.this, exp.Interval) and isinstance(node.expression, exp.Literal):
        # INTERVAL 1 DAY * 3 → INTERVAL '6' DAY: a window frame's bound must be one literal in Spark
        count, unit = node.this.this, node.this.args.get("unit")
        if isinstance(count, exp.Literal) and not node.expression.is_string and unit is not None:
            product = Decimal(count.name) * Decimal(node.expression.name)
            if product == product.to_integral_value():
                return exp.Interval(this=exp.Literal.string(str(int(product))), unit=unit.copy())
    if isinstance(node, exp.PercentileCont) and node.expression is not None and not node.find_ancestor(exp.WithinGroup):
        # quantile_cont(x, p): Spark's percentile(x, p) interpolates the same way
        return exp.Anonymous(this="percentile", expressions=[node.this.copy(), node.expression.copy()])
    if isinstance(node, exp.Length) and isinstance(node.this, exp.Array | exp.Cast):
        return exp.func("size", node.this.copy())  # len() of a bound list
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
        # list[a:b], 1-based and inclusive at both ends → slice(list, a, b - a + 1); the list itself may need
        # rewriting too (an ordered array_agg), and transform() does not revisit a replaced node's children
        node = node.copy()
        node.set("this", node.this.transform(_portable))
        bounds = node.expressions[0]
        first = bounds.this.copy() if bounds.this is not None else exp.Literal.number(1)
        last = bounds.expression
        if last is None:
            return exp.func("slice", node.this.copy(), first, exp.func("size", node.this.copy()))
        length = exp.Add(this=exp.Sub(this=last.copy(), expression=first.copy()), expression=exp.Literal.number(1))
        return exp.func("slice", node.this.copy(), first, length)
    return node


def _to_the_end(window: exp.Window) -> bool:
    """min/max/sum/count OVER (… ORDER BY … ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)."""
    spec, order = window.args.get("spec"), window.args.get("order")
    if spec is None or order is None or not isinstance(window.this, (exp.Min, exp.Max, exp.Sum, exp.Count)):
        return False
    frame = (spec.args.get("kind"), spec.args.get("start"), spec.args.get("end"), spec.args.get("end_side"))
    return frame == ("ROWS", "CURRENT ROW", "UNBOUNDED", "FOLLOWING")


def _running_backwards(window: exp.Window) -> exp.Window:
    """An aggregate from the current row to the partition's end is the running aggregate of the reversed order.
    Spark recomputes a frame ending UNBOUNDED FOLLOWING for every row (quadratic in the partition: T2's clearing
    time took minutes for a hub's few thousand payments); a frame starting UNBOUNDED PRECEDING it keeps running.
    Every key flips direction and null placement, so the reversed order is exactly the old one backwards."""
    window = window.copy()
    flipped = [
        exp.Ordered(this=key.this.copy(), desc=not key.args.get("desc"), nulls_first=not key.args.get("nulls_first"))
        for key in window.args["order"].expressions
    ]
    window.set("order", exp.Order(expressions=flipped))
    window.set("spec", exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"))
    # What the window holds may need rewriting too (not revisited otherwise); the root stays a Window.
    return cast(exp.Window, window.transform(_portable))


def _ordered_collect(order: exp.Order, condition: exp.Where | None = None) -> exp.Expr:
    """array_agg(x ORDER BY k1 DESC, k2): Spark's collect_list keeps no order, so collect (k1, k2, x) structs,
    sort them with a comparator that follows the ORDER BY, and keep x. `condition`: the aggregate's FILTER."""

    def collect(function: str, value: exp.Expr) -> exp.Expr:
        call = exp.func(function, value)
        return call if condition is None else exp.Filter(this=call, expression=condition.copy())

    keys: list[exp.Ordered] = list(order.expressions)
    if isinstance(order.this, exp.Distinct):
        # array_agg(DISTINCT x ORDER BY x): a sorted set (DuckDB, like PostgreSQL, orders DISTINCT only by x)
        value = order.this.expressions[0]
        if len(keys) != 1 or keys[0].this != value:
            raise ValueError(f"array_agg(DISTINCT … ORDER BY …) must order by its own value: {order.sql('duckdb')}")
        unique = exp.func("array_sort", collect("collect_set", value.copy()))
        return exp.func("reverse", unique) if keys[0].args.get("desc") else unique
    fields: list[exp.Expr] = []
    for number, key in enumerate(keys):
        fields += [exp.Literal.string(f"k{number}"), key.this.copy()]
    fields += [exp.Literal.string("v"), order.this.copy()]
    collected = collect("collect_list", exp.func("named_struct", *fields))
    cases = []
    for number, key in enumerate(keys):
        before, after = ("1", "-1") if key.args.get("desc") else ("-1", "1")
        cases.append(
            f"WHEN _left.k{number} < _right.k{number} THEN {before} "
            f"WHEN _left.k{number} > _right.k{number} THEN {after}"
        )
    # lambda names no rule's table alias uses (a rule aliasing a table `r` broke `(l, r) ->`)
    comparator = f"(_left, _right) -> CASE {' '.join(cases)} ELSE 0 END"
    template = f"transform(array_sort(__collected__, {comparator}), e -> e.v)"
    tree = sqlglot.parse_one(template, read="spark")
    return tree.transform(
        lambda node: collected if isinstance(node, exp.Column) and node.name == "__collected__" else node
    )


# ---------------------------------------------------------------------------------------------- running


@dataclass
class SparkCursor:
    """What `sweep.query` and `scoring.account_features` read of a DuckDB result: names, rows, polars."""

    description: list[tuple[str, str]]
    rows: list[tuple]

    def fetchall(self) -> list[tuple]:
        return self.rows

    def pl(self) -> pl.DataFrame:
        names = [name for name, _ in self.description]
        return pl.DataFrame({name: [row[i] for row in self.rows] for i, name in enumerate(names)}, strict=False)


class SparkQueryFailed(Exception):
    """Spark refused or failed a rule's query; the message is Spark's first line."""


class SparkConnection:
    """Stands in for the DuckDB connection in the sweep and whole-graph detectors: a query runs on Spark; DuckDB
    (the server's warehouse) only describes it, so rows are typed as DuckDB types them. The small temp tables a
    detector makes (the whole-graph rules' stepped windows) are made on DuckDB and copied to Spark."""

    def __init__(self, session, con: duckdb.DuckDBPyConnection):
        self.session = session
        self.duckdb = con
        self._cached: dict[str, Any] = {}
        """Temp views made on Spark by CREATE … AS SELECT, cached: name → frame (unpersisted when replaced)."""

    def for_detector(self, detector: str):
        """The connection a detector runs on: the server's DuckDB for those in ON_SERVER, else Spark."""
        return self.duckdb if detector in ON_SERVER else self

    def execute(self, sql: str, params: dict[str, Any] | None = None):
        params = params or {}
        statement = _parsed(sql, sweep.spark_variant(sql))
        if isinstance(statement, (exp.Create, exp.Insert, exp.Drop)):
            return self._on_both(statement, sql, params)
        described = self.duckdb.execute("DESCRIBE " + sql, params).fetchall()
        columns = [(row[0], row[1]) for row in described]
        try:
            found = self.session.sql(spark_sql(sql, params)).collect()
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise SparkQueryFailed(str(exc).strip().splitlines()[0]) from None
            raise
        rows = [tuple(_as_duckdb(value, kind) for value, (_, kind) in zip(row, columns)) for row in found]
        return SparkCursor(description=columns, rows=rows)

    def register(self, name: str, table) -> None:
        self.duckdb.register(name, table)

    def unregister(self, name: str) -> None:
        self.duckdb.unregister(name)

    def _on_both(self, statement: exp.Expr, sql: str, params: dict[str, Any]):
        """A temp table statement. `CREATE … AS SELECT` over the warehouse (the whole-graph edge table: every
        payment of the run) runs on Spark, cached there, and is made empty on DuckDB (which only describes the
        queries reading it); a table filled from Python (a rule's stepped windows: small) is made on DuckDB and
        copied to Spark as a view."""
        table = statement.find(exp.Table)
        name = table.name if table is not None else None
        query = statement.expression if isinstance(statement, exp.Create) else None
        if name is not None and isinstance(query, exp.Query):
            empty = statement.copy()
            empty.set("expression", exp.select("*").from_(query.copy().subquery("q")).limit(0))
            self.duckdb.execute(empty.sql(dialect="duckdb"), params)
            self._uncache(name)
            frame = self.session.sql(spark_sql(query.sql(dialect="duckdb"), params)).cache()
            frame.createOrReplaceTempView(name)
            self._cached[name] = frame
            return None
        self.duckdb.execute(sql, params)
        if name is None:
            return None
        if isinstance(statement, exp.Drop):
            self._uncache(name)
            self.session.catalog.dropTempView(name)
            return None
        columns = self.duckdb.execute(f"DESCRIBE {name}").fetchall()
        schema = ", ".join(f"`{column[0]}` {_spark_type(column[1])}" for column in columns)
        rows = self.duckdb.execute(f"SELECT * FROM {name}").fetchall()
        self._uncache(name)
        self.session.createDataFrame(rows, schema=schema).createOrReplaceTempView(name)
        return None

    def _uncache(self, name: str) -> None:
        frame = self._cached.pop(name, None)
        if frame is not None:
            frame.unpersist()


ON_SERVER = frozenset({"graph_cycle", "anomaly"})
"""Detectors that stay on DuckDB with --engine spark. G10's path search grows temp tables hop by hop (a loop of
statements, each over the last one's result), which is not one query to hand to Spark. A1 fits its forest in
Python on the server over every account's features anyway; measured on the server's DuckDB, those features are
kept between nights (only changed accounts measured again) and can use an as-of join, which Spark SQL lacks."""

_SPARK_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN"}
_SPARK_TYPES |= {"TIMESTAMP": "TIMESTAMP_NTZ", "DATE": "DATE", "FLOAT": "FLOAT", "SMALLINT": "SMALLINT"}


def _spark_type(kind: str) -> str:
    if kind.startswith("DECIMAL("):
        return kind
    if kind not in _SPARK_TYPES:
        raise TypeError(f"a temp table column of type {kind} cannot be copied to Spark")
    return _SPARK_TYPES[kind]


def _as_duckdb(value: Any, kind: str) -> Any:
    """A Spark value as DuckDB returns its type: ratios of decimals are DOUBLE in DuckDB, DECIMAL in Spark."""
    if value is None:
        return None
    if kind in ("DOUBLE", "FLOAT"):
        return float(value)
    if kind in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"):
        return int(value)
    if kind.startswith("DECIMAL("):
        scale = int(kind.rstrip(")").split(",")[1])
        return Decimal(value).quantize(Decimal(1).scaleb(-scale))
    if kind.endswith("[]") and isinstance(value, list):
        return [_as_duckdb(item, kind[:-2]) for item in value]
    return value


@dataclass
class SparkEngine:
    """A Spark session with the sweep tables registered as views; `close()` stops it (or, when it is a session
    of an application already running, only drops its cached tables) and removes an export."""

    session: Any
    exported: Path | None = None
    owns_context: bool = True
    cached: tuple = ()

    def connection(self, con: duckdb.DuckDBPyConnection) -> SparkConnection:
        return SparkConnection(self.session, con)

    def close(self) -> None:
        if self.owns_context:
            self.session.stop()
        else:
            for frame in self.cached:
                frame.unpersist()
        if self.exported is not None:
            shutil.rmtree(self.exported, ignore_errors=True)


SESSION_CONF = {
    # timestamps without a time zone, as in the warehouse: report times are local wall-clock times
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
}
LOCAL_CONF = {
    # one machine: a few shuffle partitions, not the cluster default of 200
    "spark.sql.shuffle.partitions": "2",
    # A rule's query on one machine costs per stage, not per row (T11's 30-day window at 100k payments: 15 jobs,
    # 29 stages, 27 s; the same 5 windows as one UNION ALL query took 5× as long). Adaptive execution runs every
    # shuffle as a job of its own and re-plans after it; whole-stage code generation compiles each stage's Java
    # (janino) before it reads a row. Without both: 5 jobs, 15 stages, 16 s; T2's window 29 stages, 61 s.
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
}


def start_engine(settings, con: duckdb.DuckDBPyConnection) -> SparkEngine:
    """Start Spark at `settings.spark_master` with the sweep tables: from `settings.spark_tables` when set (a
    parquet folder holding <table>.parquet or <table>/ for each table, or hive:<database>), else the warehouse's
    tables exported as parquet under <home>/tmp for this run. Called inside a Spark application that is already
    running (a notebook, spark-submit), it opens a session of its own on that application and leaves it running."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "未安装 pyspark / --engine spark needs pyspark and Java: pip install -r requirements-spark.lock "
            "(make test-spark installs both)"
        ) from None
    location = settings.spark_tables
    exported = None
    if not location:
        exported = Path(settings.tmp) / f"spark-{uuid.uuid4().hex[:12]}"
        export_tables(con, exported)
        location = str(exported)
    conf = SESSION_CONF | (LOCAL_CONF if settings.spark_master.startswith("local") else {})
    running = SparkSession.getActiveSession()
    try:
        if running is not None:
            log.info("using the running Spark application (%s) over %s", running.sparkContext.master, location)
            session = running.newSession()
            for key, value in conf.items():
                session.conf.set(key, value)
        else:
            session = _new_session(settings, conf, location)
    except Exception as exc:  # pyspark's own errors: no Java, a master that does not answer
        if exported is not None:
            shutil.rmtree(exported, ignore_errors=True)
        raise ConfigError(
            f"Spark 无法启动 / Spark did not start at {settings.spark_master} (FUNDFLOW_SPARK_MASTER; "
            f"needs Java 17, `make test-spark` installs it): {str(exc).strip().splitlines()[0]}"
        ) from exc
    engine = SparkEngine(session=session, exported=exported, owns_context=running is None)
    try:
        engine.cached = _register_tables(session, location)
    except Exception:
        engine.close()
        raise
    return engine


def _new_session(settings, conf: dict[str, str], location: str):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(settings.spark_master).appName("fundflow-detect")
    for key, value in conf.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
    if settings.spark_master.startswith("local"):
        builder = builder.config("spark.driver.memory", settings.spark_driver_memory)
    if location.startswith(HIVE_PREFIX):
        builder = builder.enableHiveSupport()
    log.info("starting Spark at %s over %s", settings.spark_master, location)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def export_tables(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """The warehouse's sweep tables as <folder>/<table>.parquet (DuckDB COPY)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in SWEEP_TABLES:
        target = str(folder / f"{table}.parquet").replace("'", "''")
        con.execute(f"COPY (SELECT * FROM {table}) TO '{target}' (FORMAT parquet)")


def _register_tables(session, location: str) -> tuple:
    """The sweep tables as cached views of `session`; returns the cached frames."""
    if location.startswith(HIVE_PREFIX):
        database = location[len(HIVE_PREFIX) :]
        return tuple(_cached_view(session.table(f"{database}.{table}"), table) for table in SWEEP_TABLES)
    frames = []
    base = location.rstrip("/")
    is_local = "://" not in base or base.startswith("file://")
    for table in SWEEP_TABLES:
        # a cluster's store (hdfs://, s3a://) holds each table as a folder of parquet files
        path = f"{base}/{table}"
        if is_local:
            folder = Path(path.removeprefix("file://"))
            if folder.with_suffix(".parquet").exists():
                path = f"{path}.parquet"
            elif not folder.exists():
                raise ConfigError(
                    f"Spark 数据位置缺少表 / FUNDFLOW_SPARK_TABLES={location}: no {table}.parquet or {table}/ there"
                )
        frames.append(_cached_view(session.read.parquet(path), table))
    return tuple(frames)


def _cached_view(frame, table: str):
    """Every rule's every window scans these tables: Spark keeps them after the first scan (memory, then disk)."""
    cached = frame.cache()
    cached.createOrReplaceTempView(table)
    return cached
