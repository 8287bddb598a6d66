"""`fundflow backtest --labels FILE`: how well the latest detection run finds known schemes.

The truth is the generator's `truth/accounts.csv` (positives: every scheme account except investors; the scheme
kinds come from `schemes.csv` beside it) or any CSV `account_no,label,typology` (label 1/0). Accounts not in
the file count as negatives. Reported per rule, per typology, for the whole pack, for the lead-like
combination, per scheme kind, and for the naive rule "≥ 30 distinct payers in 7 days" on the same window.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from detectors.pack import rule_order
from pipelines.cases.publish import lead_policy, opens_lead
from pipelines.errors import NotFoundError
from pipelines.evaluation.truth import Truth, read_truth
from pipelines.formatting import table_text
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


def _scores(flagged: set[str], truth: Truth) -> dict:
    hits = flagged & truth.positives
    schemes = sorted(scheme for scheme, core in truth.scheme_core.items() if core & flagged)
    return {
        "accounts": len(flagged),
        "true_positives": len(hits),
        "precision": round(len(hits) / len(flagged), 3) if flagged else 0.0,
        "recall": round(len(hits) / len(truth.positives), 3) if truth.positives else 0.0,
        "schemes_found": schemes,
    }


def backtest(settings: Settings, truth_path: str | Path, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    truth = read_truth(truth_path)
    own_connection = con is None
    con = con or warehouse.connect(settings, read_only=True)
    try:
        return _backtest(con, truth, settings)
    finally:
        if own_connection:
            con.close()


def _backtest(con: duckdb.DuckDBPyConnection, truth: Truth, settings: Settings) -> dict:
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
    alert_count = warehouse.scalar(con, "SELECT count(*) FROM alerts WHERE run_id = ?", [run_id])
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
        rule_id: {"alerts": per_rule_alerts.get(rule_id, 0), **_scores(accounts, truth)}
        for rule_id, accounts in by_rule.items()
    }
    kinds: dict[str, dict] = {}
    for scheme, core in sorted(truth.scheme_core.items()):
        kind = truth.scheme_kind.get(scheme, scheme)
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
        "positives": len(truth.positives),
        "alerts": alert_count,
        "rules": dict(sorted(rules.items(), key=lambda item: rule_order(item[0]))),
        "typologies": {typology: _scores(accounts, truth) for typology, accounts in sorted(by_typology.items())},
        "pack": _scores(everything, truth),
        "lead_like": _scores(lead_like, truth),
        "naive": _scores(naive, truth),
        "scheme_kinds": kinds,
        "lookalikes": _lookalike_scores(truth, rules_of, lead_like),
    }


def _lookalike_scores(truth: Truth, rules_of: dict[str, set[str]], lead_like: set[str]) -> dict[str, dict]:
    """Per look-alike kind: its lawful accounts, how many the pack alerted (false positives), and how many
    meet the lead-opening rule on their own."""
    found: dict[str, dict] = {}
    for account, kind in sorted(truth.lookalike_kind.items()):
        entry = found.setdefault(kind, {"accounts": 0, "alerted": 0, "lead_like": 0})
        entry["accounts"] += 1
        entry["alerted"] += account in rules_of
        entry["lead_like"] += account in lead_like
    return found


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
    rule_rows = [
        [
            rule_id,
            score["alerts"],
            score["accounts"],
            score["true_positives"],
            f"{score['precision']:.3f}",
            f"{score['recall']:.3f}",
            ",".join(score["schemes_found"]),
        ]
        for rule_id, score in report["rules"].items()
    ]
    typology_rows = [
        [
            f"{TYPOLOGIES.get(typology, typology)} ({typology})",
            score["accounts"],
            score["true_positives"],
            f"{score['precision']:.3f}",
            f"{score['recall']:.3f}",
        ]
        for typology, score in report["typologies"].items()
    ]
    overall_rows = [
        [
            name,
            report[key]["accounts"],
            report[key]["true_positives"],
            f"{report[key]['precision']:.3f}",
            f"{report[key]['recall']:.3f}",
            len(report[key]["schemes_found"]),
        ]
        for name, key in (
            ("规则包 whole pack", "pack"),
            ("线索组合 立案条件 leads.yaml", "lead_like"),
            (f"朴素规则 ≥{NAIVE_MIN_PAYERS} 付款人/{NAIVE_DAYS} 天 naive", "naive"),
        )
    ]
    kind_rows = [
        [kind, entry["schemes"], entry["found"], entry["found_by_naive"], ",".join(entry["rules"])]
        for kind, entry in report["scheme_kinds"].items()
    ]
    lookalike_rows = [
        [kind, entry["accounts"], entry["alerted"], entry["lead_like"]]
        for kind, entry in report.get("lookalikes", {}).items()
    ]
    lookalike_table = (
        [
            table_text(
                ["类似正常经营 look-alike kind", "账户", "误报预警", "满足立案条件"], lookalike_rows, right={1, 2, 3}
            )
        ]
        if lookalike_rows
        else []
    )
    return "\n\n".join(
        [
            f"回测 / backtest: 运行 {report['run_id']}，截至 {report['as_of']}，{report['window_days']} 天；"
            f"正例账户 {report['positives']} 个；预警 {report['alerts']} 条（分析员需阅读）",
            table_text(
                ["规则", "预警", "账户", "命中", "精确率", "召回率", "发现的集资模型"], rule_rows, right={1, 2, 3, 4, 5}
            ),
            table_text(["手法 typology", "账户", "命中", "精确率", "召回率"], typology_rows, right={1, 2, 3, 4}),
            table_text(
                ["整体 overall", "账户", "命中", "精确率", "召回率", "模型"], overall_rows, right={1, 2, 3, 4, 5}
            ),
            table_text(
                ["模型类别 scheme kind", "模型数", "规则发现", "朴素发现", "命中规则"], kind_rows, right={1, 2, 3}
            ),
            *lookalike_table,
        ]
    )
