"""Prefect flows: the nightly chain ingest → detect → publish → export, and its cron deployment.

The flow body reads like a table of contents. A task per inbox file, so one bad file does not stop the
others; only steps that can fail transiently (a busy warehouse, a locked case store, file I/O) retry.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.crashpoints import pause_point
from pipelines.errors import ConfigError, FundflowError
from pipelines.settings import Settings

PR_SET_PDEATHSIG = 1
INBOX_SUFFIXES = {".csv", ".txt", ".xlsx", ".xml"}


def _retry_when_transient(task_obj, task_run, state) -> bool:
    try:
        state.result()
    except FundflowError as exc:
        return exc.transient
    except Exception:
        return False
    return False


def inbox_files(inbox: Path) -> list[Path]:
    return sorted(path for path in inbox.rglob("*") if path.is_file() and path.suffix.lower() in INBOX_SUFFIXES)


@task(
    name="ingest-file",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=_retry_when_transient,
    cache_policy=NO_CACHE,
)
def ingest_file_task(home: str, path: str) -> dict:
    from pipelines.ingest.load import ingest_file
    from pipelines.warehouse import db as warehouse

    settings = Settings.load(home)
    con = warehouse.connect(settings)
    try:
        return asdict(ingest_file(con, settings, Path(path)))
    finally:
        con.close()


@task(
    name="prepare", retries=2, retry_delay_seconds=10, retry_condition_fn=_retry_when_transient, cache_policy=NO_CACHE
)
def prepare_task(home: str) -> None:
    """Derived tables the detectors read: payments (two legs → one), parties, actors."""
    from pipelines.warehouse import db as warehouse
    from pipelines.warehouse.prepare import prepare_warehouse

    settings = Settings.load(home)
    con = warehouse.connect(settings)
    try:
        prepare_warehouse(con, settings)
    finally:
        con.close()


@task(name="detect", cache_policy=NO_CACHE)
def detect_task(home: str) -> dict:
    from pipelines.detection.runner import run_detection

    result = run_detection(Settings.load(home))
    return {"run_id": result.run_id, "alerts_per_rule": result.alerts_per_rule}


@task(
    name="publish", retries=2, retry_delay_seconds=10, retry_condition_fn=_retry_when_transient, cache_policy=NO_CACHE
)
def publish_task(home: str, run_id: str) -> dict:
    from pipelines.cases.publish import publish_detection

    return asdict(publish_detection(Settings.load(home), run_id))


@task(
    name="match-tips",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=_retry_when_transient,
    cache_policy=NO_CACHE,
)
def match_tips_task(home: str) -> list[dict]:
    """Open public tips matched again against the new data; one entry per tip that now matches more."""
    from pipelines.cases.store import CaseStore
    from pipelines.cases.tip_matching import rematch_open_tips
    from pipelines.masking import mask_account
    from pipelines.warehouse import db as warehouse

    settings = Settings.load(home)
    store = CaseStore.open(settings)
    con = warehouse.connect(settings, read_only=True)
    try:
        found = rematch_open_tips(store, con)
    finally:
        con.close()
        store.close()
    return [
        {
            "tip_id": tip_id,
            "matches": len(new),
            "leads": sorted({m.lead_id for m in new if m.lead_id}),
            "accounts": sorted({mask_account(m.account_no) for m in new if m.account_no}),
        }
        for tip_id, new in sorted(found.items())
    ]


@task(name="export", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def export_task(home: str) -> list[str]:
    from reports.nightly import export_nightly

    return [str(path) for path in export_nightly(Settings.load(home))]


@task(
    name="institutions",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=_retry_when_transient,
    cache_policy=NO_CACHE,
)
def institutions_task(home: str) -> list[dict]:
    """Reporting institutions past a scorecard bar this month (rules/institutions/scorecard.yaml)."""
    from reports.institutions import nightly_institutions

    return nightly_institutions(Settings.load(home))


@task(name="archive", cache_policy=NO_CACHE)
def archive_task(home: str, path: str) -> str:
    settings = Settings.load(home)
    target = settings.archive / f"{date.today():%Y-%m-%d}" / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target = target.with_name(f"{target.stem}-{datetime.now():%H%M%S%f}{target.suffix}")
    shutil.move(path, target)
    return str(target)


@flow(name="fundflow-nightly")
def nightly_flow(home: str, inbox: str | None = None) -> dict:
    """Files are archived only after the whole night (derive → detect → publish → export) has committed, so a
    night killed anywhere is redone by the next: its files are still in the inbox (now duplicates no finished
    night has read) and the derivations they made pending are still pending."""
    settings = Settings.load(home)
    settings.ensure_folders()
    started = time.monotonic()
    step_seconds: dict[str, float] = {}
    run_id = begin_nightly_run(settings)
    files = inbox_files(Path(inbox) if inbox else settings.inbox)

    file_results = [ingest_one(home, path) for path in files]
    step_seconds["ingest"] = round(time.monotonic() - started, 2)
    loaded = [item for item in file_results if item.get("status") == "loaded"]
    failed = [item for item in file_results if item.get("status") == "failed"]
    duplicates = [item for item in file_results if item.get("status") == "duplicate_file"]
    left_over = left_by_killed_night(settings, duplicates)
    summary = {
        "files": len(files),
        "loaded": len(loaded),
        "failed": len(failed),
        "duplicates": len(duplicates),
        "left_over": len(left_over),
        "rows_loaded": sum(item.get("loaded", 0) for item in file_results),
        "rows_quarantined": sum(item.get("quarantined", 0) for item in file_results),
        "file_results": file_results,
    }

    if loaded or left_over or _derivations_pending(settings):
        with timed(step_seconds, "prepare"):
            prepare_task(home)
        with timed(step_seconds, "detect"):
            detection = detect_task(home)
        summary["detect_run"] = detection["run_id"]
        summary["alerts_per_rule"] = detection["alerts_per_rule"]
        pause_point("nightly-detected")
        with timed(step_seconds, "publish"):
            summary["publish"] = publish_task(home, detection["run_id"])
        with timed(step_seconds, "tips"):
            summary["tip_matches"] = match_tips_task(home)
        pause_point("nightly-published")
        with timed(step_seconds, "export"):
            summary["exports"] = export_task(home)
        summary["nothing_new"] = False
    else:
        summary["nothing_new"] = True
    if settings.warehouse_path.exists():  # also on quiet nights: "no file for N working days" matters most then
        with timed(step_seconds, "institutions"):
            summary["institutions"] = institutions_task(home)
    # Only now, with derive → detect → publish → export committed, do the night's files leave the inbox.
    for item in loaded + duplicates:
        item["archived_to"] = archive_task(home, item["path"])
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["step_seconds"] = step_seconds
    summary["flow_started_at"] = time.time() - (time.monotonic() - started)
    finish_nightly_run(settings, run_id, summary)
    create_markdown_artifact(
        markdown=summary_markdown(summary),
        key="fundflow-nightly-summary",
        description="夜间任务摘要 / nightly run summary",
    )
    return summary


@contextmanager
def timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    """Wall-clock seconds of one step into `seconds` (the run record keeps them; `make bench chain` reads them)."""
    step_started = time.monotonic()
    try:
        yield
    finally:
        seconds[step] = round(time.monotonic() - step_started, 2)


def ingest_one(home: str, path: Path) -> dict:
    """Ingest one file as its own task; a failure is reported for that file and the night goes on."""
    state = ingest_file_task(home, str(path), return_state=True)
    try:
        result = state.result()
    except Exception as exc:  # the task's failure, already logged by Prefect
        return {"file_name": path.name, "path": str(path), "status": "failed", "error": str(exc)}
    pause_point("nightly-ingested")
    return result


def _derivations_pending(settings: Settings) -> bool:
    from pipelines.warehouse import db as warehouse
    from pipelines.warehouse.prepare import pending_files

    con = warehouse.connect(settings)
    try:
        return pending_files(con) > 0
    finally:
        con.close()


def left_by_killed_night(settings: Settings, duplicates: list[dict]) -> list[dict]:
    """Inbox files already in the warehouse that no finished night has read: a night (or an ingest) stopped
    before its detect and publish committed, so this night does them. A finished night lists its files."""
    from pipelines.warehouse import db as warehouse

    if not duplicates:
        return []
    con = warehouse.connect(settings)
    try:
        read = {
            file_id
            for (file_id,) in con.execute(
                """SELECT i.file_id FROM run_inputs i JOIN runs r USING (run_id)
                WHERE r.kind = 'nightly' AND r.status <> 'running'"""
            ).fetchall()
        }
    finally:
        con.close()
    left = [item for item in duplicates if item.get("file_id") not in read]
    for item in left:
        item["left_over"] = True
    return left


def begin_nightly_run(settings: Settings) -> str:
    """The night's run record, `running` until it finishes; runs a killed process left running are closed."""
    from pipelines.warehouse import db as warehouse
    from pipelines.warehouse import runs

    con = warehouse.connect(settings)
    try:
        runs.close_abandoned(con)
        return runs.start_run(con, "nightly")
    finally:
        con.close()


def finish_nightly_run(settings: Settings, run_id: str, summary: dict) -> None:
    from pipelines.warehouse import db as warehouse
    from pipelines.warehouse import runs

    con = warehouse.connect(settings)
    try:
        runs.record_inputs(
            con,
            run_id,
            [
                item["file_id"]
                for item in summary["file_results"]
                if item.get("file_id") and (item.get("status") == "loaded" or item.get("left_over"))
            ],
        )
        status = "failed" if summary["failed"] else "ok"
        runs.finish_run(con, run_id, status, {k: v for k, v in summary.items() if k != "file_results"})
        summary["run_id"] = run_id
    finally:
        con.close()


def summary_markdown(summary: dict) -> str:
    lines = ["# 夜间任务摘要 / nightly summary", ""]
    if summary["nothing_new"] and not summary["failed"]:
        lines.append("没有新文件，本次未做任何更改 / no new files; nothing was changed.")
    lines += ["| 项目 item | 数量 count |", "|---|---|"]
    for key, label in (
        ("files", "收件箱文件 files in inbox"),
        ("loaded", "已导入 loaded"),
        ("duplicates", "重复文件 duplicate files"),
        ("left_over", "中断夜间任务留下的文件 files left by an interrupted night"),
        ("failed", "失败 failed"),
        ("rows_loaded", "导入行数 rows loaded"),
        ("rows_quarantined", "隔离行数 rows quarantined"),
    ):
        lines.append(f"| {label} | {summary.get(key, 0)} |")
    alerts = summary.get("alerts_per_rule") or {}
    if alerts:
        fired = ", ".join(f"{rule_id} {count}" for rule_id, count in alerts.items() if count)
        lines.append(f"| 预警 alerts | {sum(alerts.values())} ({fired}) |")
    publish = summary.get("publish") or {}
    for key, label in (
        ("new", "新线索 new leads"),
        ("updated", "更新线索 updated leads"),
        ("linked", "关联已销号线索 linked to closed leads"),
    ):
        if key in publish:
            lines.append(f"| {label} | {publish[key]} |")
    tip_matches = summary.get("tip_matches") or []
    if "tip_matches" in summary:
        lines.append(f"| 群众举报新匹配 tips newly matched | {len(tip_matches)} |")
    for item in tip_matches:
        leads = "、".join(item["leads"]) or "无线索 no lead"
        accounts = "、".join(item["accounts"][:5]) or "-"
        lines.append(f"\n**举报新匹配 / tip now matches** {item['tip_id']}: 线索 {leads}；账户 {accounts}")
    flagged = summary.get("institutions") or []
    if flagged:
        lines += ["", "## 报告机构提示 / reporting institutions past a threshold", ""]
        lines += [f"- `{item['institution_code']}`（{item['period']}）：{item['crossed']}" for item in flagged]
    for item in summary["file_results"]:
        if item.get("status") == "failed":
            lines.append(f"\n**失败文件 / failed file** `{item.get('file_name')}`: {item.get('error')}")
    return "\n".join(lines)


def nightly_deployment(settings: Settings):
    from prefect.schedules import Cron

    return nightly_flow.to_deployment(
        name="nightly",
        schedules=[Cron(settings.nightly_cron, timezone=settings.timezone)],
        parameters={"home": str(settings.home)},
        description="每晚：导入收件箱 → 运行规则 → 发布线索 → 导出 / nightly: ingest → detect → publish → export",
    )


def check_configured_api(url: str) -> None:
    """When PREFECT_API_URL names a server, fail with a clear line if it does not answer (the night uses it)."""
    import httpx

    try:
        answered = httpx.get(f"{url.rstrip('/')}/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        answered = False
    if not answered:
        raise ConfigError(f"PREFECT_API_URL 指向的 Prefect 服务无响应 / the Prefect API at {url} does not answer")


def run_nightly(home: str, inbox: str | None, startup_seconds: int) -> dict:
    """The nightly flow on the server PREFECT_API_URL names, else on a temporary one this process starts
    and stops (Prefect's own temporary server outlives a killed process)."""
    import os

    url = os.environ.get("PREFECT_API_URL")
    if url:
        check_configured_api(url)
        return nightly_flow(home, inbox)
    with temporary_api(Settings.load(home), startup_seconds):
        return nightly_flow(home, inbox)


def _die_with_parent() -> None:
    """In the server's child process: the kernel sends it SIGTERM when its parent dies, even by kill -9."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: stopped by the parent's finally only
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def temporary_api(settings: Settings, startup_seconds: float):
    """A Prefect API on 127.0.0.1 for this process only, stopped when the block ends, on SIGTERM/SIGINT
    (they end the block by an exception) and by the kernel when this process is killed outright."""
    import os
    import signal
    import sys

    import prefect
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    def stop_on_term(signum, frame):
        raise SystemExit(128 + signum)

    import threading

    in_main = threading.current_thread() is threading.main_thread()
    previous_term = signal.signal(signal.SIGTERM, stop_on_term) if in_main else None
    port = _free_port()
    settings.logs.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        with open(settings.logs / "prefect-server.log", "ab") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory"),
                    *("prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port)),
                    *("--log-level", "error", "--lifespan", "on"),
                ],
                env={
                    **os.environ,
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                    "PREFECT_UI_ENABLED": "0",
                    "PREFECT__SERVER_EPHEMERAL": "1",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        try:
            wait_for_server(port, server, startup_seconds)
        except FundflowError:
            raise FundflowError(
                f"临时 Prefect 服务未在 {startup_seconds} 秒内启动 / the temporary Prefect API did not start within "
                f"{startup_seconds} s; raise FUNDFLOW_PREFECT_STARTUP_SECONDS or set PREFECT_API_URL"
            ) from None
        with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
            yield
    finally:
        if server is not None:
            send_pending_to_server()
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if in_main:
            signal.signal(signal.SIGTERM, previous_term)


def send_pending_to_server(seconds: float = 30) -> None:
    """Send the logs and events Prefect still queues while the temporary server is up. Left to Prefect's exit
    handlers, they are sent after the server has stopped and retried for about 80 s, on every night."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=seconds)


def wait_for_server(port: int, server: subprocess.Popen, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise FundflowError("本地 Prefect 服务启动失败，见 logs/prefect-server.log / local Prefect server failed")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise FundflowError(
        f"本地 Prefect 服务未在 {seconds:.0f} 秒内就绪 / local Prefect server not ready in {seconds:.0f} s "
        "(FUNDFLOW_PREFECT_STARTUP_SECONDS)"
    )
