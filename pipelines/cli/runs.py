"""`fundflow runs list|show`: what each run read, which rule pack it used, what it produced."""

from __future__ import annotations

import json

from pipelines.errors import NotFoundError
from pipelines.formatting import table_text
from pipelines.settings import Settings
from pipelines.warehouse.runs import describe_run, list_runs


def runs_command(args, settings: Settings) -> int:
    from pipelines.warehouse import db as warehouse

    con = warehouse.connect(settings, read_only=settings.warehouse_path.exists())
    try:
        if args.action == "list":
            runs = list_runs(con)
            if args.json:
                print(json.dumps(runs, ensure_ascii=False, default=str, indent=1))
                return 0
            rows = [
                [
                    run["run_id"],
                    run["kind"],
                    str(run["started_at"])[:19],
                    run["status"],
                    (run["rule_pack_hash"] or "-")[:12],
                    run["inputs"],
                    run["alerts"],
                ]
                for run in runs
            ]
            headers = ["运行 run", "类型 kind", "开始 started", "状态", "规则包 pack", "文件", "预警"]
            print(table_text(headers, rows, right={5, 6}))
            return 0
        if not args.run:
            raise NotFoundError("请给出运行编号 / give a run id: fundflow runs show RUN")
        run = describe_run(con, args.run)
        if args.json:
            print(json.dumps(run, ensure_ascii=False, default=str, indent=1))
            return 0
        print(f"运行 / run        {run['run_id']}  ({run['kind']}, {run['status']})")
        print(f"时间 / time       {run['started_at']} → {run['finished_at']}")
        print(f"规则包 / pack     {run['rule_pack_hash'] or '-'}")
        print(f"代码 / code       {run['code_version'] or '-'}")
        print(f"模型 / model      {run['model_hash'] or '-（规则排序 / rule ranking）'}")
        if run["as_of"]:
            print(f"窗口 / window     {run['window_days']} 天至 {run['as_of']}")
        if run["error"]:
            print(f"错误 / error      {run['error']}")
        for key, value in run["summary"].items():
            print(f"  {key}: {value}")
        print(f"输入文件 / input files ({len(run['inputs'])}):")
        for item in run["inputs"]:
            print(f"  {item['file_id']}  {item['file_name'] or '?'}  {item['rows_loaded'] or 0} 行")
        if run["alerts_per_rule"]:
            print("预警 / alerts: " + ", ".join(f"{rule} {count}" for rule, count in run["alerts_per_rule"].items()))
        return 0
    finally:
        con.close()
