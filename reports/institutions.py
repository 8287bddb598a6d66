"""`fundflow institutions report`: the reporting institutions' scorecard as an XLSX (a summary sheet and one
sheet per measure, Chinese headers), as JSON rows for other tools, and as the masked snapshot the console shows.

Accounts and holder names are masked unless an unmasked export is asked for with a reason (audited).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipelines.errors import FundflowError
from pipelines.evaluation.institutions import COMPLETENESS_FIELDS, Scorecard
from pipelines.masking import mask_account, mask_name
from pipelines.settings import Settings
from pipelines.vocabulary import (
    DETECTOR_FIELDS,
    DIRECTION,
    HOW_REPORTED,
    INSTITUTION_MEASURES,
    QUARANTINE_REASONS,
    REPORT_KIND,
    SOFT_FINDINGS,
)
from reports.tables import (
    AMOUNT_FORMAT,
    Column,
    ExportResult,
    Sheet,
    check_unmask,
    export_user,
    record_export,
    write_workbook,
)

SHARE_FORMAT = "0.0%"
SHARES = ("quarantine_rate", "soft_finding_rate", "late_share", "missing_leg_share", "completeness_lowest")
# The summary's measures with a chart on the console page, in the order shown.
CHARTED = ("lines", "quarantine_rate", "late_share", "missing_leg_share", "large_unreported", "missed_suspicious")
SNAPSHOT_FOLDER = "institutions"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return value


def crossed_text(crossed: list) -> str:
    return "；".join(
        f"{INSTITUTION_MEASURES.get(key, key)} {_shown(key, value)}（阈值 {_shown(key, bar)}）"
        for key, value, bar in crossed
    )


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "无"
    if key in SHARES:
        return f"{float(value) * 100:.1f}%"
    return f"{value:g}" if isinstance(value, float) else str(value)


def masked_tables(scorecard: Scorecard, unmasked: bool = False) -> dict[str, list[dict]]:
    """The detail tables with account numbers and holder names masked (unless `unmasked`), values plain."""
    tables = {}
    for name, rows in scorecard.tables.items():
        shown = []
        for row in rows:
            row = {key: _plain(value) for key, value in row.items()}
            if not unmasked and "account_no" in row:
                row["account_no"] = mask_account(row["account_no"])
                row["account_name"] = mask_name(row.get("account_name"))
            shown.append(row)
        tables[name] = shown
    return tables


def summary_rows(scorecard: Scorecard) -> list[dict]:
    """The summary for machines (`--json`): plain values, `crossed` as [measure, value, bar] lists."""
    return [
        {key: ([list(item) for item in value] if key == "crossed" else _plain(value)) for key, value in row.items()}
        for row in scorecard.summary
    ]


def _col(key: str, label: str | None = None) -> Column:
    label = label or INSTITUTION_MEASURES.get(key, key)
    if key in SHARES or key in COMPLETENESS_FIELDS:
        return Column(key, label, SHARE_FORMAT)
    if key.endswith("amount") or key in ("amount_cny", "day_total"):
        return Column(key, label, AMOUNT_FORMAT)
    return Column(key, label)


def _kind(rows: list[dict]) -> list[dict]:
    return [dict(row, report_kind=REPORT_KIND.get(str(row.get("report_kind")), row.get("report_kind"))) for row in rows]


def scorecard_sheets(scorecard: Scorecard, unmasked: bool = False) -> list[Sheet]:
    period = scorecard.period
    caption = (f"统计期间：{period.label}（{period.start} 至 {period.end}）", *scorecard.notes)
    tables = masked_tables(scorecard, unmasked)
    summary = [dict(row, crossed=crossed_text(row["crossed"])) for row in summary_rows(scorecard)]
    for row in summary:
        row["period"] = period.label
    soft = [dict(row, warning=SOFT_FINDINGS.get(row["warning"], row["warning"])) for row in tables["soft_findings"]]
    reasons = [
        dict(row, reason=QUARANTINE_REASONS.get(row["reason_code"], row["reason_code"]).split(" / ")[0])
        for row in tables["quarantine"]
    ]
    large = [
        dict(row, direction=DIRECTION.get(row["direction"], row["direction"])) for row in tables["large_unreported"]
    ]
    missed = [dict(row, how_reported=HOW_REPORTED.get(row["how_reported"], "")) for row in tables["missed"]]

    def sheet(title: str, columns: list[Column], rows: list[dict], note: str = "") -> Sheet:
        return Sheet(title, columns, rows, caption=(f"报告机构评分卡 · {title}", *caption, *([note] if note else ())))

    inst = _col("institution_code")
    kind = Column("report_kind", "报告类型")
    return [
        sheet("汇总", [_col(key) for key in INSTITUTION_MEASURES], summary),
        sheet(
            "文件与报告行",
            [
                inst,
                kind,
                *[
                    _col(k, label)
                    for k, label in (
                        ("files", "文件数"),
                        ("lines", "报告行数"),
                        ("loaded", "入库行数"),
                        ("quarantined", "隔离行数"),
                        ("warned", "软校验提示行数"),
                        ("replaced", "替换行数"),
                        ("first_arrival", "最早来文时间"),
                        ("last_arrival", "最近来文时间"),
                    )
                ],
            ],
            _kind(tables["files"]),
        ),
        sheet(
            "文件清单",
            [
                inst,
                kind,
                *[
                    Column(k, label)
                    for k, label in (
                        ("file_name", "文件名"),
                        ("arrived_at", "来文时间"),
                        ("last_txn", "最晚交易日期"),
                        ("rows_read", "读取行数"),
                        ("rows_loaded", "入库行数"),
                        ("rows_quarantined", "隔离行数"),
                        ("rows_warned", "软校验提示行数"),
                        ("rows_replaced", "替换行数"),
                    )
                ],
            ],
            _kind(tables["file_list"]),
        ),
        sheet(
            "隔离原因",
            [inst, Column("reason_code", "原因代码"), Column("reason", "原因"), Column("rows", "行数")],
            reasons,
        ),
        sheet("软校验提示", [inst, Column("warning", "提示"), Column("lines", "行数")], soft),
        sheet(
            "字段完整率",
            [inst, Column("lines", "报告行数"), *[_col(name, DETECTOR_FIELDS[name]) for name in COMPLETENESS_FIELDS]],
            tables["completeness"],
            "对方账号、户名、证件号码与匹配号只计非现金交易 / counterparty fields count non-cash lines only",
        ),
        sheet(
            "及时性",
            [
                inst,
                kind,
                Column("lines", "计时行数"),
                Column("late_lines", "逾期行数"),
                Column("deadline", "时限（工作日）"),
                Column("median_lag", "滞后中位数（工作日）"),
                Column("max_lag", "最长滞后（工作日）"),
            ],
            _kind(tables["timeliness"]),
            "大额自交易日起算；可疑自文件所报最晚交易日起算 / large: from the transaction date; suspicious: from the "
            "file's last transaction",
        ),
        sheet(
            "逾期文件",
            [
                inst,
                kind,
                Column("file_name", "文件名"),
                Column("arrived_on", "来文日期"),
                Column("earliest_due_from", "最早起算日"),
                Column("max_lag", "最长滞后（工作日）"),
                Column("deadline", "时限（工作日）"),
                Column("late_lines", "逾期行数"),
            ],
            _kind(tables["late_files"]),
        ),
        sheet(
            "报告覆盖",
            [
                inst,
                _col("transfer_sides"),
                _col("missing_legs"),
                _col("large_unreported"),
                _col("large_unreported_amount"),
                Column("large_unreported_days", "应报未报大额（户·日）"),
            ],
            tables["coverage"],
            "两端均为本县报告机构的转账，对方已报、本机构未报的一端 / transfers between two reporting institutions "
            "that the other side reported and this one did not",
        ),
        sheet(
            "应报未报大额",
            [
                inst,
                Column("account_no", "账号"),
                Column("account_name", "户名"),
                Column("direction", "收付"),
                Column("day", "交易日期"),
                Column("txn_time", "交易时间"),
                _col("amount_cny", "金额（元）"),
                _col("day_total", "当日同向累计（元）"),
                Column("other_institution", "报告方机构"),
                Column("other_txn_ref", "报告方业务标识号"),
            ],
            large,
        ),
        sheet(
            "应报未报可疑",
            [
                inst,
                Column("account_no", "账号"),
                Column("account_name", "户名"),
                Column("lead_ids", "线索编号"),
                Column("roles", "角色"),
                Column("how_reported", "报告情况"),
                Column("large_lines", "大额报告行数"),
                Column("first_flaggable", "最早可识别日期"),
                Column("payments_in_period", "本期交易笔数"),
            ],
            missed,
        ),
    ]


def export_institutions(
    settings: Settings,
    scorecard: Scorecard,
    out: str | Path,
    user: str | None = None,
    unmasked: bool = False,
    reason: str | None = None,
) -> ExportResult:
    """Write the XLSX and record it in the export audit."""
    path = Path(out)
    if path.suffix.lower() != ".xlsx":
        raise FundflowError(f"评分卡导出文件须为 .xlsx / the scorecard export must end in .xlsx: {path.name}")
    reason = check_unmask(unmasked, reason)
    sha256 = write_workbook(path, scorecard_sheets(scorecard, unmasked))
    record_export(
        settings,
        export_user(user),
        "institutions",
        [(path, sha256)],
        unmasked,
        reason,
        detail={"period": scorecard.period.key},
    )
    return ExportResult(path, sha256, len(scorecard.summary), ((path, sha256),))


def snapshot_path(settings: Settings, period_key: str) -> Path:
    return settings.home / SNAPSHOT_FOLDER / f"scorecard-{period_key}.json"


def write_snapshot(settings: Settings, scorecard: Scorecard) -> Path:
    """The masked scorecard the console shows (it never opens the warehouse), one file per period."""
    path = snapshot_path(settings, scorecard.period.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    period = scorecard.period
    data = {
        "period": {
            "key": period.key,
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "as_of": scorecard.as_of.isoformat(),
        "computed_at": datetime.now(settings.tz).replace(tzinfo=None, microsecond=0).isoformat(sep=" "),
        "notes": scorecard.notes,
        "summary": summary_rows(scorecard),
        "tables": masked_tables(scorecard),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(path)
    return path


def read_snapshots(settings: Settings) -> list[dict]:
    """Every stored snapshot, latest period first."""
    folder = settings.home / SNAPSHOT_FOLDER
    found = []
    for path in sorted(folder.glob("scorecard-*.json")) if folder.is_dir() else []:
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda data: (data["period"]["end"], data["period"]["start"]), reverse=True)


def nightly_institutions(settings: Settings, today: date | None = None) -> list[dict]:
    """The nightly check: this month's scorecard, and the institutions whose figures crossed a bar in
    `rules/institutions/scorecard.yaml`, each with the figures in words. Snapshots for the console are written
    for this month and for the quarter of the latest transaction (what the office reviews when data lag)."""
    from pipelines.evaluation.institutions import build_scorecard, month_of, quarter_of
    from pipelines.warehouse import db as warehouse

    today = today or datetime.now(settings.tz).date()
    con = warehouse.connect(settings, read_only=True)
    try:
        scorecard = build_scorecard(settings, month_of(today), con=con, today=today)
        write_snapshot(settings, scorecard)
        latest = con.execute("SELECT max(txn_date) FROM txn").fetchone()
        if latest and latest[0] is not None:
            write_snapshot(settings, build_scorecard(settings, quarter_of(latest[0]), con=con, today=today))
    finally:
        con.close()
    return [
        {
            "institution_code": row["institution_code"],
            "period": scorecard.period.key,
            "crossed": crossed_text(row["crossed"]),
        }
        for row in scorecard.summary
        if row["crossed"]
    ]
