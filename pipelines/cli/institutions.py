"""`fundflow institutions report --period P [--out F.xlsx] [--json]`: the reporting institutions' scorecard."""

from __future__ import annotations

import json

from pipelines.errors import FundflowError
from pipelines.evaluation.institutions import build_scorecard, parse_period
from pipelines.settings import Settings
from pipelines.vocabulary import INSTITUTION_MEASURES
from reports.institutions import export_institutions, summary_rows, write_snapshot

SHOWN = (
    "files",
    "lines",
    "quarantine_rate",
    "late_share",
    "missing_leg_share",
    "large_unreported",
    "missed_suspicious",
)


def _cell(key: str, value) -> str:
    if value is None:
        return "—"
    if key.endswith(("_rate", "_share")):
        return f"{value * 100:.1f}%"
    return str(value)


def institutions_command(args, settings: Settings) -> int:
    if args.action != "report":
        raise FundflowError(f"未知操作 / unknown action: {args.action}")
    if args.unmasked and not args.out:
        raise FundflowError("--unmasked 只用于 --out 导出 / --unmasked applies to --out exports only")
    scorecard = build_scorecard(settings, parse_period(args.period))
    write_snapshot(settings, scorecard)
    if args.out:
        result = export_institutions(settings, scorecard, args.out, args.user, args.unmasked, args.reason)
        masking = "明文 / unmasked" if args.unmasked else "已脱敏 / masked"
        print(
            f"已导出报告机构评分卡（{result.rows} 家机构，{masking}）/ exported the scorecard → {result.path}  sha256 {result.sha256}"
        )
    if args.json:
        print(json.dumps(summary_rows(scorecard), ensure_ascii=False, indent=1))
        return 0
    if not args.out:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"报告机构评分卡 / reporting institutions' scorecard · {scorecard.period.label}")
        for key in ("institution_code", *SHOWN):
            table.add_column(INSTITUTION_MEASURES[key], justify="left" if key == "institution_code" else "right")
        table.add_column(INSTITUTION_MEASURES["crossed"])
        for row in scorecard.summary:
            table.add_row(
                row["institution_code"],
                *[_cell(key, row[key]) for key in SHOWN],
                "、".join(INSTITUTION_MEASURES[key] for key, _value, _bar in row["crossed"]),
            )
        Console().print(table)
        for note in scorecard.notes:
            print(note)
    return 0
