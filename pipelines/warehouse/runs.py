"""Run records: what each run read, which rule pack and code it used, and what it produced.

A lead can end up in an administrative or court review; `fundflow runs show RUN` answers exactly which
files (by SHA-256) and which rule pack (by content hash) produced it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from datetime import datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

import duckdb

from pipelines.errors import NotFoundError
from pipelines.settings import PROJECT_ROOT
from pipelines.warehouse.db import scalar


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit the code runs from, else the installed package version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5
        )
        if described.returncode == 0 and described.stdout.strip():
            return described.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return version("fundflow")
    except PackageNotFoundError:
        return "unknown"


def new_run_id(kind: str) -> str:
    return f"{kind}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def start_run(con: duckdb.DuckDBPyConnection, kind: str, **fields) -> str:
    run_id = new_run_id(kind)
    # Who runs it, so a later run can tell a run still going from one whose process was killed.
    running = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    con.execute(
        "INSERT INTO runs (run_id, kind, started_at, status, summary, as_of, window_days, rule_pack_hash,"
        " code_version, model_hash) VALUES (?, ?, current_localtimestamp(), 'running', ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            kind,
            running,
            fields.get("as_of"),
            fields.get("window_days"),
            fields.get("rule_pack_hash"),
            code_version(),
            fields.get("model_hash"),
        ],
    )
    return run_id


INTERRUPTED = "进程中断，未完成 / interrupted: its process ended before the run finished"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_abandoned(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Runs left `running` by a process that is gone (killed, powered off) are closed as `failed`."""
    host = socket.gethostname()
    closed = []
    for run_id, summary in con.execute("SELECT run_id, summary FROM runs WHERE status = 'running'").fetchall():
        owner = json.loads(summary) if summary else {}
        pid = owner.get("pid")
        if owner.get("host") == host and isinstance(pid, int) and (pid == os.getpid() or _alive(pid)):
            continue
        finish_run(con, run_id, "failed", summary=owner, error=INTERRUPTED)
        closed.append(run_id)
    return closed


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    status: str,
    summary: dict | None = None,
    error: str | None = None,
    **fields,
) -> None:
    assignments = ["finished_at = current_localtimestamp()", "status = ?", "summary = ?", "error = ?"]
    values = [status, json.dumps(summary or {}, ensure_ascii=False, default=str), error]
    for name in ("as_of", "window_days", "rule_pack_hash", "model_hash"):
        if name in fields:
            assignments.append(f"{name} = ?")
            values.append(fields[name])
    con.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE run_id = ?", [*values, run_id])


def record_inputs(con: duckdb.DuckDBPyConnection, run_id: str, file_ids: list[str] | None = None) -> int:
    """Record the files a run read; without a list, every file in the warehouse (what detection reads)."""
    if file_ids is None:
        con.execute("INSERT INTO run_inputs SELECT ?, file_id FROM files", [run_id])
    elif file_ids:
        con.executemany("INSERT INTO run_inputs VALUES (?, ?)", [[run_id, file_id] for file_id in file_ids])
    return scalar(con, "SELECT count(*) FROM run_inputs WHERE run_id = ?", [run_id])


def describe_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    row = con.execute(
        "SELECT run_id, kind, started_at, finished_at, status, as_of, window_days, rule_pack_hash, code_version,"
        " model_hash, summary, error FROM runs WHERE run_id = ? OR run_id LIKE ? ORDER BY started_at DESC",
        [run_id, f"{run_id}%"],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"没有这次运行 / no such run: {run_id}")
    names = [
        "run_id",
        "kind",
        "started_at",
        "finished_at",
        "status",
        "as_of",
        "window_days",
        "rule_pack_hash",
        "code_version",
        "model_hash",
        "summary",
        "error",
    ]
    run = dict(zip(names, row))
    run["summary"] = json.loads(run["summary"]) if run["summary"] else {}
    run["inputs"] = [
        {"file_id": file_id, "file_name": name, "institution_code": institution, "rows_loaded": loaded}
        for file_id, name, institution, loaded in con.execute(
            "SELECT i.file_id, f.file_name, f.institution_code, f.rows_loaded FROM run_inputs i"
            " LEFT JOIN files f USING (file_id) WHERE i.run_id = ? ORDER BY f.file_name",
            [run["run_id"]],
        ).fetchall()
    ]
    run["alerts_per_rule"] = dict(
        con.execute(
            "SELECT rule_id, count(*) FROM alerts WHERE run_id = ? GROUP BY rule_id ORDER BY rule_id", [run["run_id"]]
        ).fetchall()
    )
    return run


def list_runs(con: duckdb.DuckDBPyConnection, limit: int = 30) -> list[dict]:
    rows = con.execute(
        "SELECT run_id, kind, started_at, finished_at, status, rule_pack_hash,"
        " (SELECT count(*) FROM run_inputs i WHERE i.run_id = r.run_id),"
        " (SELECT count(*) FROM alerts a WHERE a.run_id = r.run_id)"
        " FROM runs r ORDER BY started_at DESC LIMIT ?",
        [limit],
    ).fetchall()
    names = ["run_id", "kind", "started_at", "finished_at", "status", "rule_pack_hash", "inputs", "alerts"]
    return [dict(zip(names, row)) for row in rows]
