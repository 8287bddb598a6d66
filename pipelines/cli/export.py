"""`fundflow export …`: route each kind of export to the module that writes it."""

from __future__ import annotations

from pipelines.errors import FundflowError
from pipelines.settings import Settings


def _masking(unmasked: bool) -> str:
    return "明文 / unmasked" if unmasked else "已脱敏 / masked"


def _files(result) -> str:
    return "\n".join(f"  {path}  sha256 {sha256}" for path, sha256 in result.files)


def export_command(args, settings: Settings) -> int:
    if args.what == "alerts":
        from reports.alerts import export_alerts

        result = export_alerts(settings, args.out, unmasked=args.unmasked, reason=args.reason, user=args.user)
        print(
            f"已导出 {result.rows} 行预警（运行 {result.run_id}，{_masking(args.unmasked)}）/ exported {result.rows} "
            f"alert rows → {result.path}  sha256 {result.sha256}"
        )
        return 0
    if args.what == "leads":
        from reports.leads_export import export_leads

        result = export_leads(settings, args.out, args.user, unmasked=args.unmasked, reason=args.reason)
        print(
            f"已导出 {result.rows} 条线索（{_masking(args.unmasked)}）/ exported {result.rows} leads:\n{_files(result)}"
        )
        return 0
    if args.what == "campaign":
        from reports.campaign import export_campaign

        result = export_campaign(
            settings, args.out, args.user, period=args.period, unmasked=args.unmasked, reason=args.reason
        )
        if len(result.files) > 1:
            shape = "CSV 三个文件：a 工作情况、b 线索排查处置、c 跨省案件 / three CSV files (a, b, c)"
        else:
            shape = "XLSX 三个工作表 / one workbook with three sheets"
        print(f"已导出专项行动统计表（{result.rows} 条线索，{shape}）/ exported the campaign tables:\n{_files(result)}")
        return 0
    if args.what == "dossier":
        from reports.dossier import export_dossier

        if not args.lead:
            raise FundflowError("导出卷宗须指明线索编号 / usage: fundflow export dossier LEAD --out FILE.html")
        result = export_dossier(settings, args.lead, args.out, args.user, unmasked=args.unmasked, reason=args.reason)
        print(
            f"已导出线索 {args.lead} 卷宗（{result.rows} 笔交易，{_masking(args.unmasked)}）/ exported the dossier:\n"
            f"{_files(result)}"
        )
        return 0
    raise FundflowError(f"未知导出 / unknown export: {args.what}")
