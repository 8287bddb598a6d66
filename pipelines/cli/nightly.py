"""`fundflow nightly` and `fundflow schedule`: the Prefect flow once, or served on its cron."""

from __future__ import annotations

import subprocess
import sys

from pipelines.flows import nightly_deployment, run_nightly, summary_markdown, wait_for_server
from pipelines.settings import Settings


def print_summary(summary: dict) -> None:
    print(summary_markdown(summary).replace("| ", "").replace(" |", "").replace("|---|---|", ""))
    for path in summary.get("exports") or []:
        print(f"导出 / export: {path}")
    print(f"运行记录 / run record: fundflow runs show {summary.get('run_id')}")


def nightly_command(args, settings: Settings) -> int:
    summary = run_nightly(str(settings.home), args.inbox, settings.prefect_startup_seconds)
    print_summary(summary)
    return 1 if summary["failed"] else 0


def schedule_command(args, settings: Settings) -> int:
    """Serve the nightly deployment; start a local Prefect server on 127.0.0.1 when none is configured."""
    import os

    from prefect import serve

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        port = 4200
        settings.logs.mkdir(parents=True, exist_ok=True)
        log = open(settings.logs / "prefect-server.log", "ab")
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        wait_for_server(port, server, settings.prefect_startup_seconds)
    print(
        f"夜间任务已按计划运行 / nightly deployment served: cron '{settings.nightly_cron}' "
        f"({settings.timezone}); Ctrl-C 停止 / to stop"
    )
    try:
        serve(nightly_deployment(settings))
    finally:
        if server is not None:
            server.terminate()
    return 0
