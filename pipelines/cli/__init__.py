"""The `fundflow` command (DESIGN §6): a stable interface that tests and outside tools rely on.

Each verb is handled by a function `handler(args, settings) -> int` in the module that owns the work,
imported only when the verb runs. Known errors print one line and exit 1; `--debug` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

import duckdb

from pipelines.errors import FundflowError
from pipelines.settings import ENGINES, Settings

HANDLERS = {
    "ingest": "pipelines.cli.ingest:ingest_command",
    "quarantine": "pipelines.cli.ingest:quarantine_command",
    "detect": "pipelines.cli.detect:detect_command",
    "nightly": "pipelines.cli.nightly:nightly_command",
    "schedule": "pipelines.cli.nightly:schedule_command",
    "leads": "pipelines.cli.leads:leads_command",
    "export": "pipelines.cli.export:export_command",
    "console": "pipelines.cli.console:console_command",
    "users": "pipelines.cli.users:users_command",
    "cases": "pipelines.cli.cases:cases_command",
    "generate": "pipelines.cli.generate:generate_command",
    "backtest": "pipelines.cli.evaluation:backtest_command",
    "train": "pipelines.cli.evaluation:train_command",
    "runs": "pipelines.cli.runs:runs_command",
    "rebuild": "pipelines.cli.rebuild:rebuild_command",
    "demo": "pipelines.cli.demo:demo_command",
    "institutions": "pipelines.cli.institutions:institutions_command",
    "tips": "pipelines.cli.tips:tips_command",
    "register": "pipelines.cli.register:register_command",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fundflow", description="非法集资可疑资金监测 / suspicious fund-flow monitoring"
    )
    parser.add_argument("--home", help="home folder of runtime files (default: $FUNDFLOW_HOME or ./var)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    p = verbs.add_parser("ingest", help="load report files or folders / 导入报告文件")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--kind", help="report kind when the file does not say: LARGE or SUSPICIOUS")
    p.add_argument("--institution", help="reporting institution code when the file does not say")
    p.add_argument("--sheet", help="XLSX sheet to read (default: the first)")

    p = verbs.add_parser("quarantine", help="rows held back and why / 隔离记录")
    p.add_argument("action", choices=["list"])
    p.add_argument("--file", help="only this file (name or sha256 prefix)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")

    p = verbs.add_parser("detect", help="run the rule pack, write alerts, publish leads / 运行规则")
    p.add_argument("--as-of", help="last day of the window, YYYY-MM-DD (default: latest transaction)")
    p.add_argument("--window-days", type=int, help="days of data the rules look at (default 90)")
    p.add_argument("--no-publish", action="store_true", help="write alerts only, leave the lead queue alone")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        help="where the sweep rules' SQL runs (default: $FUNDFLOW_ENGINE or duckdb); spark uses $FUNDFLOW_SPARK_MASTER",
    )

    p = verbs.add_parser("nightly", help="ingest the inbox, detect, publish, export / 夜间任务")
    p.add_argument("--inbox", help="folder of new files (default: <home>/inbox)")

    verbs.add_parser("schedule", help="serve the nightly run on its cron schedule / 定时运行")

    p = verbs.add_parser("leads", help="the lead queue / 线索队列")
    p.add_argument("action", choices=["list", "show", "assign", "move", "measure", "split", "verify"])
    p.add_argument("rest", nargs="*", help="LEAD [STATUS|USER|add|done …]")
    p.add_argument("--user", help="who does this (recorded)")
    p.add_argument("--note", "--reason", dest="note", help="why (recorded)")
    p.add_argument(
        "--core", action="append", default=[], help="split: one part's core account(s), ACC[,ACC]; once per part"
    )
    p.add_argument("--status", help="filter for list")
    p.add_argument("--due", help="due date YYYY-MM-DD (measure add)")
    p.add_argument("--ref", help="police transfer number (measure done)")
    p.add_argument("--amount", help="fine or sum repaid, yuan (measure done)")
    p.add_argument("--json", action="store_true")

    p = verbs.add_parser("export", help="lead list, alerts, campaign tables, dossier / 导出")
    p.add_argument("what", choices=["leads", "alerts", "campaign", "dossier"])
    p.add_argument("lead", nargs="?", help="lead id (dossier)")
    p.add_argument("--out", required=True, help="output file .xlsx, .csv, .html or .pdf")
    p.add_argument("--unmasked", action="store_true", help="keep ID and account numbers whole (audited)")
    p.add_argument("--reason", help="why unmasked (required with --unmasked)")
    p.add_argument("--user", default=None, help="who exports (recorded)")
    p.add_argument("--period", help="campaign period, e.g. 2025Q3 or 2025-07-01:2025-09-30")

    p = verbs.add_parser("console", help="the analysts' web console / 分析员控制台")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)

    p = verbs.add_parser("users", help="console users / 用户管理")
    p.add_argument("action", choices=["add", "passwd", "disable", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=["analyst", "reviewer", "supervisor", "auditor", "admin"])
    p.add_argument("--password", help="password (prompted when omitted)")

    p = verbs.add_parser("cases", help="the case store itself: copy it to PostgreSQL / 线索库迁移")
    p.add_argument("action", choices=["migrate"])
    p.add_argument("--to", help="target database URL, e.g. postgresql+psycopg://fundflow@dbhost/fundflow")
    p.add_argument("--user", help="who copies (recorded in the target's audit log)")

    p = verbs.add_parser("generate", help="synthetic county with hidden schemes / 生成模拟数据")
    p.add_argument("--out", required=True)
    p.add_argument("--persons", type=int, default=5000)
    p.add_argument("--orgs", type=int, default=None)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--schemes", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--format", choices=["csv", "xlsx", "xml"], default="csv")
    p.add_argument("--reporting", choices=["full", "realistic"], default="full")
    p.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8")
    p.add_argument("--start", help="first day YYYY-MM-DD (default 2025-01-01)")
    p.add_argument(
        "--lookalikes",
        choices=["on", "off"],
        default="on",
        help="lawful co-ops, care homes, insurers, bank products, merchants (default on) / 正常经营的类似主体",
    )
    p.add_argument(
        "--disguised", type=int, default=0, help="schemes disguised as each look-alike kind (default 0) / 伪装模型数"
    )

    p = verbs.add_parser("backtest", help="precision and recall against known cases / 回测")
    p.add_argument("--labels", required=True, help="truth/accounts.csv or a CSV of account_no,label,typology")
    p.add_argument("--json", action="store_true")

    p = verbs.add_parser("train", help="learn a ranking from closed leads / 训练排序模型")
    p.add_argument("--labels", help="labels CSV standing in for closed leads (default: the case store)")

    p = verbs.add_parser("runs", help="what each run read and produced / 运行记录")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("run", nargs="?")
    p.add_argument("--json", action="store_true")

    p = verbs.add_parser("institutions", help="reporting institutions' scorecard / 报告机构评分卡")
    p.add_argument("action", choices=["report"])
    p.add_argument("--period", required=True, help="month 2025-03, quarter 2025Q1 or year 2025")
    p.add_argument("--out", help="write the scorecard to this .xlsx (audited)")
    p.add_argument("--json", action="store_true", help="print the summary rows as JSON")
    p.add_argument("--unmasked", action="store_true", help="keep account numbers and names whole (audited)")
    p.add_argument("--reason", help="why unmasked (required with --unmasked)")
    p.add_argument("--user", default=None, help="who exports (recorded)")

    p = verbs.add_parser("tips", help="public tips and their matches / 群众举报")
    p.add_argument(
        "action", choices=["import", "list", "show", "match", "move", "answer", "reveal", "reward", "paid", "lead"]
    )
    p.add_argument("rest", nargs="*", help="FILE | TIP [STATUS|GRANT|REFUSE] | REWARD")
    p.add_argument("--user", help="who does this (recorded)")
    p.add_argument("--note", help="why, or the answer to the reporter (recorded)")
    p.add_argument("--reason", help="why the reporter is revealed (reveal; audited)")
    p.add_argument("--status", help="filter for list: RECEIVED,VERIFYING,HANDLING,ANSWERED")
    p.add_argument("--amount", help="reward amount, yuan (reward GRANT)")
    p.add_argument("--date", help="date paid YYYY-MM-DD (paid; default today)")
    p.add_argument("--json", action="store_true")

    p = verbs.add_parser("register", help="known lawful entities, ranked lower but shown / 合法主体名录")
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("rest", nargs="*", help="ENTRY_ID (remove)")
    p.add_argument("--name", help="entity name (add)")
    p.add_argument("--kind", help="coop, care_home, insurer, bank_product, merchant or other (add)")
    p.add_argument("--account", help="account number (add)")
    p.add_argument("--id-no", dest="id_no", help="holder's credit code: all its accounts (add)")
    p.add_argument("--licence", help="licence or registration number (add)")
    p.add_argument("--user", help="who changes the register: a supervisor or admin (recorded)")
    p.add_argument("--note", help="why (recorded)")
    p.add_argument("--all", action="store_true", help="list removed entries too")

    verbs.add_parser("rebuild", help="rebuild payments, parties, actors from txn (repair) / 重建派生表")

    p = verbs.add_parser("demo", help="generate a small county and run the nightly job once (make run)")
    p.add_argument("--persons", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time, so a redirected or captured stderr gets the lines."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def show_progress() -> None:
    """Progress and diagnostics that the stages log under `fundflow.*` go to the terminal's stderr."""
    logger = logging.getLogger("fundflow")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show_progress()
    try:
        settings = Settings.load(args.home)
        settings.apply_prefect_environment()
        module_name, function_name = HANDLERS[args.verb].split(":")
        handler = getattr(importlib.import_module(module_name), function_name)
        return int(handler(args, settings) or 0)
    except FundflowError as exc:
        if args.debug:
            raise
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 1
    except duckdb.OutOfMemoryException:
        if args.debug:
            raise
        # the step that ran out is one transaction: it was rolled back, and a night's files are still in the inbox
        print(
            f"错误 / error: 数据仓库内存不足（上限 {settings.duckdb_memory_limit}），该步骤已回滚；请调大 "
            f"FUNDFLOW_DUCKDB_MEMORY（如 3GB）后重新运行 / DuckDB ran out of its memory limit "
            f"({settings.duckdb_memory_limit}); the step was rolled back. Raise FUNDFLOW_DUCKDB_MEMORY (e.g. 3GB) "
            "and run it again",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("已中断 / interrupted", file=sys.stderr)
        return 130
