"""`fundflow export …`: route each kind of export to the module that writes it."""

from __future__ import annotations

from pipelines.errors import FundflowError
from pipelines.settings import Settings


def export_command(args, settings: Settings) -> int:
    if args.what == "alerts":
        from reports.alerts import export_alerts

        result = export_alerts(settings, args.out, unmasked=args.unmasked, reason=args.reason, user=args.user)
        masked = "明文 / unmasked" if args.unmasked else "已脱敏 / masked"
        print(f"已导出 {result.rows} 行预警（运行 {result.run_id}，{masked}）/ exported {result.rows} alert rows "
              f"→ {result.path}  sha256 {result.sha256}")
        return 0
    raise FundflowError(f"导出 {args.what} 尚未提供 / export {args.what} is not available yet")
