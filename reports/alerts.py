"""`fundflow export alerts`: the latest detection run's alerts, one row per account, masked unless asked.

An alert about an actor gives one row per account of that actor. Account numbers are masked (脱敏) unless
`--unmasked` with a reason; every export is recorded with the file's SHA-256 in the case-store audit, as every
other export is (`reports.tables.record_export`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from detectors.pack import RulePackInvalid, load_rule_pack
from pipelines.cases.lifecycle import OPEN_STATUSES
from pipelines.cases.store import CaseStore, lead_accounts, lead_alerts, leads
from pipelines.errors import NotFoundError
from pipelines.masking import mask_account
from pipelines.settings import Settings
from pipelines.vocabulary import TYPOLOGIES
from pipelines.warehouse import db as warehouse
from reports.tables import Column, ExportResult, check_unmask, export_user, record_export, write_table

ALERT_COLUMNS = (
    Column("rule_id", "规则编号"),
    Column("title_zh", "规则名称"),
    Column("subject", "主体"),
    Column("account_no", "账号"),
    Column("window_start", "窗口开始"),
    Column("window_end", "窗口结束"),
    Column("score", "分值"),
    Column("lead_id", "线索编号"),
    Column("reason_zh", "预警原因"),
    Column("reason_en", "原因（英文）"),
    Column("alert_id", "预警编号"),
    Column("run_id", "运行编号"),
)


def lead_ids_of_alerts(settings: Settings, alerts: list[dict]) -> dict[str, str]:
    """alert_id → lead_id from the case store; {} while there is no case store yet.

    An alert belongs to the lead that holds it (`lead_alerts`), or holds the same finding from an earlier run
    (a rerun makes new alert ids that publishing does not store twice); else to the lead whose own accounts
    (`lead_accounts`, participants left out) include its subject. An open lead wins over a closed one.
    """
    url = settings.case_store_url
    if not alerts or (url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()):
        return {}
    store = CaseStore.open(settings)
    try:
        with store.read() as conn:
            status = dict(conn.execute(sa.select(leads.c.lead_id, leads.c.status)).all())
            by_alert: dict[str, str] = {}
            by_finding: dict[tuple, str] = {}
            for row in conn.execute(
                sa.select(
                    lead_alerts.c.lead_id,
                    lead_alerts.c.alert_id,
                    lead_alerts.c.rule_id,
                    lead_alerts.c.subject,
                    lead_alerts.c.window_start,
                    lead_alerts.c.window_end,
                ).order_by(lead_alerts.c.lead_id)
            ):
                by_alert[row.alert_id] = row.lead_id
                by_finding[(row.rule_id, row.subject, row.window_start, row.window_end)] = row.lead_id
            by_account: dict[str, str] = {}
            accounts = sorted({alert["account_no"] for alert in alerts if alert.get("account_no")})
            for start in range(0, len(accounts), 500):
                query = (
                    sa.select(lead_accounts.c.account_no, lead_accounts.c.lead_id)
                    .where(lead_accounts.c.account_no.in_(accounts[start : start + 500]))
                    .where(lead_accounts.c.role != "investor")
                )
                for account_no, lead_id in conn.execute(query):
                    known = by_account.get(account_no)
                    if known is None or _preferred(lead_id, known, status):
                        by_account[account_no] = lead_id
    finally:
        store.close()
    found = {}
    for alert in alerts:
        lead_id = (
            by_alert.get(alert["alert_id"])
            or by_finding.get((alert["rule_id"], alert["subject"], alert["window_start"], alert["window_end"]))
            or by_account.get(alert.get("account_no") or "")
        )
        if lead_id:
            found[alert["alert_id"]] = lead_id
    return found


def _preferred(candidate: str, known: str, status: dict[str, str]) -> bool:
    """Open leads before closed or merged ones, then the newer lead."""

    def rank(lead_id: str) -> tuple:
        return (status.get(lead_id) in OPEN_STATUSES + ("ON_HOLD",), lead_id)

    return rank(candidate) > rank(known)


def rule_titles(settings: Settings) -> dict[str, str]:
    """Chinese rule titles from the current pack; a pack that no longer loads leaves only typology labels."""
    try:
        return {rule.rule_id: rule.title_zh for rule in load_rule_pack(settings.rules_dir).rules}
    except RulePackInvalid:
        return {}


def export_alerts(
    settings: Settings, out: str | Path, unmasked: bool = False, reason: str | None = None, user: str | None = None
) -> ExportResult:
    reason = check_unmask(unmasked, reason)
    user = export_user(user)
    out = Path(out)
    con = warehouse.connect(settings)
    try:
        latest = con.execute(
            "SELECT run_id FROM runs WHERE kind = 'detect' AND status = 'ok' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        if latest is None:
            raise NotFoundError("还没有成功的检测运行，请先运行 fundflow detect / no detect run yet")
        run_id = latest[0]
        cursor = con.execute(
            """
            SELECT a.alert_id, a.run_id, a.rule_id, a.typology, a.subject_kind, a.subject,
                   coalesce(aa.account_no, a.subject) AS account_no, a.window_start, a.window_end, a.score,
                   a.reason_zh, a.reason_en
            FROM alerts a
            LEFT JOIN actor_accounts aa ON a.subject_kind = 'actor' AND aa.actor_id = a.subject
            WHERE a.run_id = ?
            ORDER BY a.score DESC, a.rule_id, a.subject, account_no""",
            [run_id],
        )
        names = [description[0] for description in cursor.description]
        alerts = [dict(zip(names, row)) for row in cursor.fetchall()]
        titles = rule_titles(settings)
        lead_of = lead_ids_of_alerts(settings, alerts)
        rows = [_row(alert, titles, lead_of, unmasked) for alert in alerts]
        sha256 = write_table(out, ALERT_COLUMNS, rows, sheet_title="预警")
    finally:
        con.close()
    record_export(
        settings, user, "alerts", [(out, sha256)], unmasked, reason, detail={"rows": len(rows), "run_id": run_id}
    )
    return ExportResult(path=out, sha256=sha256, rows=len(rows), files=((out, sha256),), run_id=run_id)


def _row(alert: dict, titles: dict[str, str], lead_of: dict[str, str], unmasked: bool) -> dict:
    account = alert["account_no"]
    subject = alert["subject"]
    if not unmasked:
        account = mask_account(account)
        subject = mask_account(subject) if alert["subject_kind"] == "account" else subject
    return {
        "rule_id": alert["rule_id"],
        "title_zh": titles.get(alert["rule_id"]) or TYPOLOGIES.get(alert["typology"], alert["typology"]),
        "subject": subject,
        "account_no": account,
        "window_start": alert["window_start"].date().isoformat(),
        # windows end at midnight after their last day; people read the last day
        "window_end": (alert["window_end"] - timedelta(days=1)).date().isoformat(),
        "score": round(alert["score"], 4),
        "lead_id": lead_of.get(alert["alert_id"], ""),
        "reason_zh": alert["reason_zh"],
        "reason_en": alert["reason_en"],
        "alert_id": alert["alert_id"],
        "run_id": alert["run_id"],
    }
