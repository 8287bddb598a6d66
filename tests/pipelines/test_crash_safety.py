"""Crash safety: a real `fundflow` child killed with SIGKILL at named points (ingest, derive, detect,
nightly), then run again, leaves the warehouse and the leads exactly as one uninterrupted run does, closes
the killed runs as failed, and leaves no process behind (the temporary Prefect API dies with its parent).

Kept small: one uninterrupted run shared by both tests, and each test kills one home at several points in
turn (each later run also finishes what the earlier kill left), so few processes are started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.settings import Settings
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    from data_samples.generator import generate_county

    county = tmp_path_factory.mktemp("county")
    generate_county(county, persons=200, days=30, seed=3)  # 6 files, 9,625 lines: alerts and leads
    return county / "reports"


def command(home: Path, *args: str, pause_at: str | None = None, api_url: str | None = None) -> tuple[list[str], dict]:
    """The real command in a fresh process: its own temporary Prefect API, or the server at `api_url`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "FUNDFLOW_"))}
    env.update(PREFECT_LOGGING_LEVEL="WARNING", FUNDFLOW_PAUSE_FILE=str(home.parent / "paused"))
    if pause_at:
        env["FUNDFLOW_PAUSE_AT"] = pause_at
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return [sys.executable, "-m", "pipelines.cli", "--home", str(home), *args], env


def run(home: Path, *args: str, api_url: str | None = None) -> subprocess.CompletedProcess:
    argv, env = command(home, *args, api_url=api_url)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_at(home: Path, point: str, *args: str, api_url: str | None = None) -> None:
    """Start the command, wait until it pauses at `point`, SIGKILL it by its pid; its children must go too."""
    marker = home.parent / "paused"
    marker.unlink(missing_ok=True)
    argv, env = command(home, *args, pause_at=point, api_url=api_url)
    child = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert child.poll() is None, f"ended before {point}: {child.stderr.read()[-3000:]}"
        assert time.monotonic() < deadline, f"never reached {point}"
        time.sleep(0.2)
    below = children_of(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in below if alive(pid)], "a child of the killed process outlived it"


def snapshot(home: Path) -> dict:
    """What detection and analysts read: derived tables, the latest good run's alerts, and the leads."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        found = {
            "txn": con.execute("SELECT count(*), sum(amount) FROM txn").fetchall(),
            "payments": con.execute(
                "SELECT count(*), sum(amount_cny), count(DISTINCT payment_id) FROM payments"
            ).fetchall(),
            "parties": con.execute("SELECT count(*) FROM parties").fetchall(),
            "actors": con.execute("SELECT count(*) FROM actor_accounts").fetchall(),
            "pending": con.execute(
                "SELECT count(*) FROM files WHERE file_id NOT IN (SELECT file_id FROM prepared_files)"
            ).fetchall(),
            "running": con.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchall(),
            "alerts": con.execute("""SELECT rule_id, subject, count(*) FROM alerts WHERE run_id = (
                SELECT run_id FROM runs WHERE kind = 'detect' AND status = 'ok' ORDER BY started_at DESC LIMIT 1)
                GROUP BY ALL ORDER BY ALL""").fetchall(),
        }
    finally:
        con.close()
    if (home / "cases.sqlite").exists():
        from pipelines.cases.store import CaseStore

        store = CaseStore.open(Settings.load(home))
        try:
            found["leads"] = sorted(
                (lead["hub_account"], lead["status"], round(lead["score"], 6), tuple(lead["rule_ids"]))
                for lead in store.list_leads()
            )
        finally:
            store.close()
    return found


def failed_runs(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT kind, error FROM runs WHERE status = 'failed'").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def straight(reports, tmp_path_factory) -> dict:
    """The one uninterrupted run every case is compared with: ingest, then detect (which publishes the leads;
    a nightly over the same files gives the same warehouse and leads)."""
    home = tmp_path_factory.mktemp("straight") / "home"
    assert run(home, "ingest", str(reports)).returncode == 0
    assert run(home, "detect").returncode == 0
    found = snapshot(home)
    assert found["alerts"] and found["leads"], "the inputs must give alerts and a lead to compare"
    return found


def test_ingest_derive_and_detect_killed_are_finished_by_the_next_run(reports, tmp_path, straight):
    """Killed in turn: after every file committed, inside the derivations' transaction (a rerun that only
    finds 重复文件 still derives), and in detect before its alerts are written; then one detect finishes."""
    home = tmp_path / "home"
    kill_at(home, "ingest-committed", "ingest", str(reports))
    kill_at(home, "prepare", "ingest", str(reports))
    kill_at(home, "detect-written", "detect")
    assert run(home, "detect").returncode == 0
    assert snapshot(home) == straight
    assert [kind for kind, _ in failed_runs(home)] == ["detect"], "the killed detect is closed as failed"


@pytest.mark.usefixtures("prefect_harness")
def test_nightly_killed_anywhere_is_finished_by_the_next_night(reports, tmp_path, straight):
    """Killed in turn after its first file, inside the derivations, after detect and after publish: nothing
    is archived before the night has committed, its temporary Prefect API dies with it, and the next night
    finishes the work. The first kill runs on the night's own temporary API; the later nights use the
    session's test server, as an office's own Prefect server would be used, so five API start-ups are one."""
    from prefect.settings import PREFECT_API_URL

    server = PREFECT_API_URL.value()
    home = tmp_path / "home"
    shutil.copytree(reports, home / "inbox")
    for point, api_url in (
        ("nightly-ingested", None),
        ("prepare", server),
        ("nightly-detected", server),
        ("nightly-published", server),
    ):
        kill_at(home, point, "nightly", api_url=api_url)
        assert len(list((home / "inbox").rglob("*.*"))) == len(list(reports.iterdir())), point
    done = run(home, "nightly", api_url=server)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "没有新文件" not in done.stdout
    assert not list((home / "inbox").rglob("*.*")), "archived once the night committed"
    assert snapshot(home) == straight
    assert [kind for kind, _ in failed_runs(home)] == ["nightly"] * 4
    # The finished night lists every file it read, so the next night finds none of them left over.
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        read = con.execute("""SELECT count(DISTINCT file_id) FROM run_inputs JOIN runs USING (run_id)
            WHERE kind = 'nightly' AND status = 'ok'""").fetchone()[0]
    finally:
        con.close()
    assert read == len(list(reports.iterdir()))


def test_only_files_no_finished_night_has_read_are_left_over(settings):
    """A file back in the inbox after its night finished is a plain duplicate; one a killed night (or only
    an ingest) loaded is left over, and the night that sees it does detect and publish again."""
    from pipelines.flows import left_by_killed_night
    from pipelines.warehouse import db as warehouse
    from pipelines.warehouse import runs

    con = warehouse.connect(settings)
    try:
        finished = runs.start_run(con, "nightly")
        runs.record_inputs(con, finished, ["read"])
        runs.finish_run(con, finished, "ok", {})
        killed = runs.start_run(con, "nightly")
        runs.record_inputs(con, killed, ["killed"])  # still running: its night never finished
    finally:
        con.close()
    duplicates = [{"file_id": file_id, "status": "duplicate_file"} for file_id in ("read", "killed", "ingested")]
    assert [item["file_id"] for item in left_by_killed_night(settings, duplicates)] == ["killed", "ingested"]
