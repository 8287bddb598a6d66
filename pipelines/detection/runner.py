"""Detection: run the rule pack over a window of the warehouse and write its alerts, all or nothing.

Sweep rules run first over the whole warehouse; the accounts they flag become the temp table
`flagged_accounts` that the graph rules work from; then the whole-graph shape rules (G8–G13) look at every
account; rings are built from all alerts. Every alert is computed
before any is written, then alerts (and rings) are written in one transaction with the run id, rule version
and rule-pack hash. A rule whose window is shorter than the run is evaluated on windows stepping back by half
its length, and keeps each subject's strongest window; for a rule that reads only its window's payments, a window
none of whose days changed since the last run is not evaluated again (`window_results`).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from detectors import DETECTORS, neighbourhood, whole_graph
from detectors.base import Alert, Rule, Window, alert_id, grid_day_before
from detectors.neighbourhood import fill_table
from detectors.pack import RulePack, RulePackInvalid, load_rule_pack
from detectors.rings import build_rings
from pipelines.cases import ranking
from pipelines.crashpoints import pause_point
from pipelines.detection.window_results import WindowResults
from pipelines.errors import FundflowError, RulePackError
from pipelines.settings import ENGINES, Settings
from pipelines.warehouse import db as warehouse
from pipelines.warehouse import runs
from pipelines.warehouse.prepare import prepare_warehouse

DEFAULT_WINDOW_DAYS = 90

log = logging.getLogger("fundflow.detection")


@dataclass(frozen=True)
class DetectionResult:
    run_id: str
    as_of: date
    window_days: int
    rule_pack_hash: str
    rules: tuple[Rule, ...]
    alerts: tuple[Alert, ...]
    alert_ids: tuple[str, ...]
    alerts_per_rule: dict[str, int] = field(default_factory=dict)
    rings: int = 0
    engine: str = "duckdb"
    """Where the sweep rules' SQL ran."""


def load_pack(settings: Settings) -> RulePack:
    """The settings' rule pack, its problems turned into the one user-facing error."""
    try:
        return load_rule_pack(settings.rules_dir)
    except RulePackInvalid as exc:
        raise RulePackError(exc.problems) from None


def run_detection(
    settings: Settings,
    as_of: date | None = None,
    window_days: int | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    engine: str | None = None,
) -> DetectionResult:
    """`engine` (default: the settings' detect_engine) is where the sweep SQL runs: duckdb or spark."""
    engine = engine or settings.detect_engine
    if engine not in ENGINES:
        raise FundflowError(f"未知检测引擎 / unknown engine '{engine}': use {' or '.join(ENGINES)}")
    own_connection = con is None
    con = con or warehouse.connect(settings)
    try:
        return _run(settings, con, as_of, window_days or DEFAULT_WINDOW_DAYS, engine)
    finally:
        if own_connection:
            con.close()
        # A run leaves garbage in reference cycles (the graphs' cached networkx views, rings' rows): about 1.4 GB at
        # 10M lines that would otherwise stay through the rest of the night, under the next step's DuckDB memory.
        gc.collect()


def _run(
    settings: Settings, con: duckdb.DuckDBPyConnection, as_of: date | None, window_days: int, engine: str
) -> DetectionResult:
    if window_days < 1:
        raise FundflowError(f"窗口天数至少为 1 / --window-days must be at least 1, got {window_days}")
    # Files an ingest left pending (a crash may have stopped it before its prepare) are derived before reading.
    prepare_warehouse(con, settings)
    runs.close_abandoned(con)
    as_of = as_of or _latest_payment_date(con)
    window = Window(as_of=as_of, days=window_days)
    try:
        pack = load_pack(settings)
    except RulePackError as exc:
        failed_run = runs.start_run(con, "detect", as_of=as_of, window_days=window_days)
        runs.finish_run(con, failed_run, "failed", error=str(exc))
        raise
    run_id = runs.start_run(
        con,
        "detect",
        as_of=as_of,
        window_days=window_days,
        rule_pack_hash=pack.content_hash,
        model_hash=ranking.model_hash(settings),
    )
    try:
        rules = tuple(_with_settings(rule, settings) for rule in pack.rules)
        seconds: dict[str, float] = {}
        kept = WindowResults(con, engine)
        alerts, ids, rings = _alerts_and_rings(settings, con, rules, window, seconds, engine, run_id, kept)
        pause_point("detect-written")
        with warehouse.transaction(con):
            _write_alerts(con, run_id, pack, rules, alerts, ids)
            write_rings(con, rings)
            kept.write(con)
    except Exception as exc:
        runs.finish_run(con, run_id, "failed", error=str(exc))
        raise
    per_rule = {rule.rule_id: 0 for rule in rules}
    for alert in alerts:
        per_rule[alert.rule_id] += 1
    runs.record_inputs(con, run_id)
    runs.finish_run(
        con,
        run_id,
        "ok",
        summary={
            "alerts_per_rule": per_rule,
            "seconds": seconds,
            "alerts": len(alerts),
            "windows_kept": kept.reused,
            "rings": len(rings[0]),
            "engine": engine,
            "window_start": str(window.start.date()),
            "window_end": str(as_of),
        },
    )
    return DetectionResult(
        run_id=run_id,
        as_of=as_of,
        window_days=window_days,
        rule_pack_hash=pack.content_hash,
        rules=rules,
        alerts=tuple(alerts),
        alert_ids=tuple(ids),
        alerts_per_rule=per_rule,
        rings=len(rings[0]),
        engine=engine,
    )


def _alerts_and_rings(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    rules: tuple[Rule, ...],
    window: Window,
    seconds: dict[str, float],
    engine: str,
    run_id: str,
    kept: WindowResults | None = None,
) -> tuple[list[Alert], list[str], tuple[list[dict], list[dict]]]:
    """The run's alerts, their ids and its rings (rows for `rings` and `ring_members`), nothing written yet."""
    # G1–G7 and the rings read one flagged neighbourhood: built for the sweep's flags, grown for the rings' seeds
    with neighbourhood.shared_graph(con), collector_paused():
        alerts = _stages(settings, con, rules, window, seconds, engine, kept)
        ids = [alert_id(run_id, alert) for alert in alerts]
        weights = {rule.rule_id: rule.weight for rule in rules}
        alert_rows = [
            {
                "alert_id": identity,
                "rule_id": alert.rule_id,
                "typology": alert.typology,
                "subject_kind": alert.subject_kind,
                "subject": alert.subject,
                "accounts": alert.accounts,
                "metrics": alert.metrics,
                "score": round(weights[alert.rule_id] * alert.strength, 4),
            }
            for identity, alert in zip(ids, alerts)
        ]
        began = time.perf_counter()
        rings = build_rings(con, run_id, alert_rows, window)
        seconds["rings"] = round(time.perf_counter() - began, 3)
    return alerts, ids, rings


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block. The graph rules and rings build millions of small objects
    that live until the run ends (a graph's nodes, payments and sorted flows), and the collector's automatic
    passes kept walking them: building the graph took 40% longer with it on. The run collects once, at its end
    (`run_detection`)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _latest_payment_date(con: duckdb.DuckDBPyConnection) -> date:
    latest = warehouse.scalar(con, "SELECT CAST(max(txn_time) AS DATE) FROM payments")
    if latest is None:
        raise FundflowError("仓库中没有交易，请先导入 / no payments in the warehouse: run fundflow ingest first")
    return latest


def _with_settings(rule: Rule, settings: Settings) -> Rule:
    """Fill the parameters that come from the settings rather than the rule file (the office's county)."""
    if any(f.name == "home_region" for f in dataclasses.fields(rule.params)):
        return dataclasses.replace(rule, params=dataclasses.replace(rule.params, home_region=settings.county_code))
    return rule


def rule_windows(rule: Rule, run_window: Window) -> list[Window]:
    """The rule's own windows inside the run: the newest ends at as_of, the earlier ones step back by half the
    rule's length on a fixed calendar grid (grid_day_before) while they fit, and the earliest starts with the run,
    so every day of the run is in one. A detector without `window_days` sees the run window whole."""
    days = getattr(rule.params, "window_days", None)
    if days is None or days >= run_window.days:
        return [Window(as_of=run_window.as_of, days=days or run_window.days)]
    step = max(days // 2, 1)
    windows = [Window(as_of=run_window.as_of, days=days)]
    end = grid_day_before(run_window.as_of, step)
    while (run_window.as_of - end).days + days <= run_window.days:
        windows.append(Window(as_of=end, days=days))
        end -= timedelta(days=step)
    earliest = Window(as_of=run_window.start.date() + timedelta(days=days - 1), days=days)
    if windows[-1] != earliest:
        windows.append(earliest)
    return windows


def _stages(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    rules: tuple[Rule, ...],
    window: Window,
    seconds: dict[str, float],
    engine: str,
    kept: WindowResults | None = None,
) -> list[Alert]:
    """Sweep, graph and whole-graph rules. With the Spark engine the sweep and whole-graph SQL runs on Spark
    (a detector in spark.ON_SERVER excepted); the graph rules (networkx on the flagged neighbourhoods) and
    the rings stay on the server."""
    if engine != "spark":
        return _stages_on(con, con, rules, window, seconds, kept)
    from pipelines.detection import spark

    began = time.perf_counter()
    spark_engine = spark.start_engine(settings, con)
    seconds["spark_start"] = round(time.perf_counter() - began, 3)
    try:
        return _stages_on(con, spark_engine.connection(con), rules, window, seconds, kept)
    finally:
        spark_engine.close()


def _stages_on(server, con, rules, window: Window, seconds: dict[str, float], kept=None) -> list[Alert]:
    """`con` runs the sweep and whole-graph SQL (the server's DuckDB or Spark); `server` the graph rules."""
    sweep_alerts = _run_stage(con, rules, "sweep", window, seconds, kept)
    # Whole-graph shapes (G8–G13) look at every account, so they neither need nor widen the sweep's flags. They
    # run before the graph rules so that their edge tables (DuckDB) and the neighbourhood graphs (Python) are
    # never held at once: together they were the night's peak memory at 10M lines.
    with whole_graph.shared_edges(con, kept):
        whole_alerts = _run_stage(con, rules, "whole", window, seconds)
    _flag_accounts(server, sweep_alerts)
    graph_alerts = _run_stage(server, rules, "graph", window, seconds)
    neighbourhood.keep_only_window(server, window)
    return sweep_alerts + graph_alerts + whole_alerts


def _run_stage(
    con,
    rules: tuple[Rule, ...],
    stage: str,
    run_window: Window,
    seconds: dict[str, float] | None = None,
    kept: WindowResults | None = None,
) -> list[Alert]:
    """Every rule of one stage over its windows; `seconds`, when given, receives each rule's run time; `kept`,
    when given, answers for the windows of window-only rules whose payments did not change, and keeps the rest."""
    alerts: list[Alert] = []
    for rule in rules:
        module = DETECTORS[rule.detector]
        if getattr(module, "STAGE", "sweep") != stage:
            continue
        began = time.perf_counter()
        strongest: dict[str, Alert] = {}
        for window in rule_windows(rule, run_window):
            found = kept.found(rule, module, window) if kept else None
            if found is not None:
                _keep_strongest(strongest, found)
                continue
            try:
                # an engine's connection may keep some detectors on the server (spark.ON_SERVER)
                found = module.detect(
                    con.for_detector(rule.detector) if hasattr(con, "for_detector") else con, rule, window
                )
            except duckdb.Error as exc:
                first_line = str(exc).strip().splitlines()[0]
                raise RulePackError(
                    [
                        f"{rule.path}: {rule.rule_id}: 检测器 {rule.detector} 的 SQL 执行失败 / "
                        f"SQL of detector '{rule.detector}' failed: {first_line}"
                    ]
                ) from None
            except Exception as exc:
                raise FundflowError(
                    f"规则 {rule.rule_id} 的检测器 {rule.detector} 出错 / detector of rule "
                    f"{rule.rule_id} failed: {exc!r}"
                ) from exc
            if kept:
                kept.keep(rule, module, window, found)
            _keep_strongest(strongest, found)
        alerts.extend(strongest[subject] for subject in sorted(strongest))
        spent = time.perf_counter() - began
        reused = kept.reused.get(rule.rule_id, 0) if kept else 0
        log.info(
            "rule %s: %d alerts in %.1f s%s",
            rule.rule_id,
            len(strongest),
            spent,
            f" ({reused} windows unchanged since the last run)" if reused else "",
        )
        if seconds is not None:
            seconds[rule.rule_id] = round(spent, 3)
    return alerts


def _keep_strongest(strongest: dict[str, Alert], found: list[Alert]) -> None:
    """Each subject's strongest alert over the windows seen so far (the earlier window on a tie)."""
    for alert in found:
        best = strongest.get(alert.subject)
        if best is None or alert.strength > best.strength:
            strongest[alert.subject] = alert


def _flag_accounts(con: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> None:
    """The accounts of this run's sweep alerts, where the graph detectors start."""
    accounts = sorted({account for alert in alerts for account in (alert.accounts or (alert.subject,))})
    con.execute("CREATE OR REPLACE TEMP TABLE flagged_accounts (account_no VARCHAR)")
    if accounts:
        fill_table(con, "flagged_accounts", {"account_no": accounts})


def write_rings(con: duckdb.DuckDBPyConnection, rings: tuple[list[dict], list[dict]]) -> None:
    ring_rows, member_rows = rings
    note_rows = [
        {"ring_id": row["ring_id"], "run_id": row["run_id"], "kind": note["kind"], "detail": json.dumps(note)}
        for row in ring_rows
        for note in row.get("why", ())
    ]
    ring_rows = [{name: value for name, value in row.items() if name != "why"} for row in ring_rows]
    for table, rows in (("rings", ring_rows), ("ring_members", member_rows), ("ring_notes", note_rows)):
        if rows:
            fill_table(con, table, {name: [row[name] for row in rows] for name in rows[0]})


def _write_alerts(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    pack: RulePack,
    rules: tuple[Rule, ...],
    alerts: list[Alert],
    ids: list[str],
) -> None:
    if not alerts:
        return
    by_id = {rule.rule_id: rule for rule in rules}
    created = datetime.now()
    rows: dict[str, list] = {
        "alert_id": ids,
        "run_id": [run_id] * len(alerts),
        "rule_id": [alert.rule_id for alert in alerts],
        "rule_version": [by_id[alert.rule_id].version for alert in alerts],
        "rule_pack_hash": [pack.content_hash] * len(alerts),
        "typology": [alert.typology for alert in alerts],
        "subject_kind": [alert.subject_kind for alert in alerts],
        "subject": [alert.subject for alert in alerts],
        "window_start": [alert.window_start for alert in alerts],
        "window_end": [alert.window_end for alert in alerts],
        "metrics": [json.dumps(alert.metrics, ensure_ascii=False, default=str) for alert in alerts],
        "evidence": [list(alert.evidence) for alert in alerts],
        "score": [round(by_id[alert.rule_id].weight * alert.strength, 4) for alert in alerts],
        "reason_zh": [alert.reason_zh for alert in alerts],
        "reason_en": [alert.reason_en for alert in alerts],
        "created_at": [created] * len(alerts),
    }
    fill_table(con, "alerts", rows)
