"""`fundflow backtest --labels FILE`: how well the latest detection run finds known schemes.

Labels are the generator's `truth/accounts.csv` (positives: every scheme account except investors; the scheme
kinds come from `schemes.csv` beside it) or any CSV `account_no,label,typology` (label 1/0). Accounts not in
the file count as negatives. Reported per rule, per typology, for the whole pack, for the lead-like
combination, per scheme kind, and for the naive rule "≥ 30 distinct payers in 7 days" on the same window.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from detectors.pack import rule_order
from pipelines.cases.publish import lead_policy, opens_lead
from pipelines.errors import BadFileError, NotFoundError
from pipelines.settings import Settings
from pipelines.vocabulary import TYPOLOGIES
from pipelines.warehouse import db as warehouse

NAIVE_MIN_PAYERS = 30
NAIVE_DAYS = 7

NAIVE_SQL = """
-- every account with >= $min_payers distinct payers in some 7-day span of the run window
WITH daily AS (
    SELECT DISTINCT payee_account AS account, payer_account AS payer, CAST(txn_time AS DATE) AS day
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL AND payer_account IS NOT NULL
),
spans AS (
    SELECT account, payer, day + INTERVAL 1 DAY * offset_days AS span_end
    FROM daily CROSS JOIN range(0, $days) AS offsets(offset_days)
)
SELECT DISTINCT account FROM (
    SELECT account, span_end FROM spans GROUP BY account, span_end HAVING count(DISTINCT payer) >= $min_payers)
"""


@dataclass
class Labels:
    positives: set[str]
    typology_of: dict[str, str] = field(default_factory=dict)
    scheme_core: dict[str, set[str]] = field(default_factory=dict)
    """scheme id → its hub and collector accounts."""
    scheme_kind: dict[str, str] = field(default_factory=dict)
    scheme_hub: dict[str, str] = field(default_factory=dict)
    """scheme id → its hub account."""


def read_labels(path: str | Path) -> Labels:
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise BadFileError(path, f"无法读取 / cannot read: {exc.strerror}") from None
    columns = set(rows[0]) if rows else set()
    if {"account_no", "scheme_id", "role"} <= columns:
        return _generator_truth(path, rows)
    if {"account_no", "label"} <= columns:
        positives = {row["account_no"] for row in rows if row["label"].strip() == "1"}
        return Labels(positives=positives, typology_of={row["account_no"]: row.get("typology") or "" for row in rows})
    raise BadFileError(
        path,
        "应有 account_no,scheme_id,role 或 account_no,label,typology 列 / "
        "expected columns account_no,scheme_id,role or account_no,label,typology",
    )


def _generator_truth(path: Path, rows: list[dict]) -> Labels:
    labels = Labels(positives=set())
    for row in rows:
        if row["role"] == "investor":
            continue
        labels.positives.add(row["account_no"])
        labels.typology_of[row["account_no"]] = row.get("typology", "")
        if row["role"] == "hub":
            labels.scheme_hub[row["scheme_id"]] = row["account_no"]
        if row["role"] in ("hub", "collector"):
            labels.scheme_core.setdefault(row["scheme_id"], set()).add(row["account_no"])
    schemes_file = path.with_name("schemes.csv")
    if schemes_file.exists():
        with schemes_file.open(encoding="utf-8-sig", newline="") as handle:
            labels.scheme_kind = {row["scheme_id"]: row["kind"] for row in csv.DictReader(handle)}
    for scheme in labels.scheme_core:
        labels.scheme_kind.setdefault(scheme, scheme)
    return labels


def _scores(flagged: set[str], labels: Labels) -> dict:
    hits = flagged & labels.positives
    schemes = sorted(scheme for scheme, core in labels.scheme_core.items() if core & flagged)
    return {
        "accounts": len(flagged),
        "true_positives": len(hits),
        "precision": round(len(hits) / len(flagged), 3) if flagged else 0.0,
        "recall": round(len(hits) / len(labels.positives), 3) if labels.positives else 0.0,
        "schemes_found": schemes,
    }


def backtest(settings: Settings, labels_path: str | Path, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    labels = read_labels(labels_path)
    own_connection = con is None
    con = con or warehouse.connect(settings, read_only=True)
    try:
        return _backtest(con, labels, settings)
    finally:
        if own_connection:
            con.close()


def _backtest(con: duckdb.DuckDBPyConnection, labels: Labels, settings: Settings) -> dict:
    run = con.execute(
        "SELECT run_id, as_of, window_days FROM runs WHERE kind = 'detect' AND status = 'ok' "
        "ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    if run is None:
        raise NotFoundError("还没有成功的检测运行，请先运行 fundflow detect / no detect run yet")
    run_id, as_of, window_days = run
    alerts = con.execute(
        """
        SELECT a.rule_id, a.typology, coalesce(aa.account_no, a.subject) AS account
        FROM alerts a LEFT JOIN actor_accounts aa ON a.subject_kind = 'actor' AND aa.actor_id = a.subject
        WHERE a.run_id = ?""",
        [run_id],
    ).fetchall()
    alert_count = con.execute("SELECT count(*) FROM alerts WHERE run_id = ?", [run_id]).fetchone()[0]
    per_rule_alerts = dict(
        con.execute("SELECT rule_id, count(*) FROM alerts WHERE run_id = ? GROUP BY 1", [run_id]).fetchall()
    )
    by_rule: dict[str, set[str]] = defaultdict(set)
    by_typology: dict[str, set[str]] = defaultdict(set)
    rules_of: dict[str, set[str]] = defaultdict(set)
    for rule_id, typology, account in alerts:
        by_rule[rule_id].add(account)
        by_typology[typology].add(account)
        rules_of[account].add(rule_id)
    everything = set(rules_of)
    # the lead-opening rule of rules/leads.yaml, amount included (what the account received in the window)
    policy = lead_policy(settings)
    received = _received(con, as_of, window_days)
    lead_like = {
        account
        for account, rules in rules_of.items()
        if opens_lead(rules, Decimal(str(received.get(account, 0))), policy)
    }
    naive = _naive_accounts(con, as_of, window_days)
    rules = {
        rule_id: {"alerts": per_rule_alerts.get(rule_id, 0), **_scores(accounts, labels)}
        for rule_id, accounts in by_rule.items()
    }
    kinds: dict[str, dict] = {}
    for scheme, kind in sorted(labels.scheme_kind.items()):
        if scheme not in labels.scheme_core:
            continue
        core = labels.scheme_core[scheme]
        entry = kinds.setdefault(kind, {"schemes": 0, "found": 0, "found_by_naive": 0, "rules": set()})
        entry["schemes"] += 1
        hitting = {rule for account in core for rule in rules_of.get(account, ())}
        entry["found"] += bool(hitting)
        entry["found_by_naive"] += bool(core & naive)
        entry["rules"] |= hitting
    for entry in kinds.values():
        entry["rules"] = sorted(entry["rules"], key=rule_order)
    return {
        "run_id": run_id,
        "as_of": str(as_of),
        "window_days": window_days,
        "positives": len(labels.positives),
        "alerts": alert_count,
        "rules": dict(sorted(rules.items(), key=lambda item: rule_order(item[0]))),
        "typologies": {typology: _scores(accounts, labels) for typology, accounts in sorted(by_typology.items())},
        "pack": _scores(everything, labels),
        "lead_like": _scores(lead_like, labels),
        "naive": _scores(naive, labels),
        "scheme_kinds": kinds,
    }


def _received(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int) -> dict[str, float]:
    """What each account received in the run window (yuan)."""
    start = as_of - timedelta(days=window_days - 1)
    rows = con.execute(
        "SELECT payee_account, sum(amount_cny) FROM payments WHERE txn_time >= ? AND txn_time < ? "
        "AND payee_account IS NOT NULL GROUP BY payee_account",
        [start, as_of + timedelta(days=1)],
    ).fetchall()
    return {account: float(amount) for account, amount in rows}


def _naive_accounts(con: duckdb.DuckDBPyConnection, as_of: date, window_days: int) -> set[str]:
    start = as_of - timedelta(days=window_days - 1)
    rows = con.execute(
        NAIVE_SQL,
        {"start": start, "end": as_of + timedelta(days=1), "days": NAIVE_DAYS, "min_payers": NAIVE_MIN_PAYERS},
    ).fetchall()
    return {account for (account,) in rows}


def format_report(report: dict) -> str:
    lines = [
        f"回测 / backtest: 运行 {report['run_id']}，截至 {report['as_of']}，{report['window_days']} 天；"
        f"正例账户 {report['positives']} 个；预警 {report['alerts']} 条（分析员需阅读）",
        "",
        f"{'规则':<6}{'预警':>6}{'账户':>6}{'命中':>6}{'精确率':>8}{'召回率':>8}  发现的集资模型",
    ]
    row = "{:<6}{:>6}{:>6}{:>6}{:>8.3f}{:>8.3f}  {}"
    for rule_id, score in report["rules"].items():
        lines.append(
            row.format(
                rule_id,
                score["alerts"],
                score["accounts"],
                score["true_positives"],
                score["precision"],
                score["recall"],
                ",".join(score["schemes_found"]),
            )
        )
    lines += ["", f"{'手法 typology':<24}{'账户':>6}{'命中':>6}{'精确率':>8}{'召回率':>8}"]
    for typology, score in report["typologies"].items():
        label = f"{TYPOLOGIES.get(typology, typology)} ({typology})"
        lines.append(
            f"{label:<24}{score['accounts']:>6}{score['true_positives']:>6}"
            f"{score['precision']:>8.3f}{score['recall']:>8.3f}"
        )
    lines += ["", f"{'整体 overall':<30}{'账户':>6}{'命中':>6}{'精确率':>8}{'召回率':>8}  模型"]
    for name, key in (
        ("规则包 whole pack", "pack"),
        ("线索组合 立案条件 leads.yaml", "lead_like"),
        (f"朴素规则 ≥{NAIVE_MIN_PAYERS} 付款人/{NAIVE_DAYS} 天 naive", "naive"),
    ):
        score = report[key]
        lines.append(
            f"{name:<30}{score['accounts']:>6}{score['true_positives']:>6}{score['precision']:>8.3f}"
            f"{score['recall']:>8.3f}  {len(score['schemes_found'])}"
        )
    lines += ["", f"{'模型类别 scheme kind':<22}{'模型数':>6}{'规则发现':>8}{'朴素发现':>8}  命中规则"]
    for kind, entry in report["scheme_kinds"].items():
        lines.append(
            f"{kind:<22}{entry['schemes']:>6}{entry['found']:>8}{entry['found_by_naive']:>8}  "
            f"{','.join(entry['rules'])}"
        )
    return "\n".join(lines)


def is_generator_truth(labels_path: str | Path) -> bool:
    """The generator's truth/accounts.csv names each account's scheme and role, so rings can be judged too."""
    with open(labels_path, encoding="utf-8-sig") as handle:
        header = handle.readline().strip().split(",")
    return {"scheme_id", "role"} <= set(header)
