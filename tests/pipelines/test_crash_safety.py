"""Crash safety: a real `fundflow` child killed with SIGKILL at named points (ingest, derive, detect,
nightly), then run again, leaves the warehouse and the leads exactly as one uninterrupted run does, closes
the killed run as failed, and leaves no process behind (the temporary Prefect API dies with its parent).
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
    generate_county(county, persons=600, days=45, seed=3)
    return county / "reports"


def command(home: Path, *args: str, pause_at: str | None = None) -> tuple[list[str], dict]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "FUNDFLOW_"))}
    env.update(PREFECT_LOGGING_LEVEL="WARNING", FUNDFLOW_PAUSE_FILE=str(home.parent / "paused"))
    if pause_at:
        env["FUNDFLOW_PAUSE_AT"] = pause_at
    return [sys.executable, "-m", "pipelines.cli", "--home", str(home), *args], env


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    argv, env = command(home, *args)
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


def kill_at(home: Path, point: str, *args: str) -> None:
    """Start the command, wait until it pauses at `point`, SIGKILL it by its pid; its children must go too."""
    marker = home.parent / "paused"
    marker.unlink(missing_ok=True)
    argv, env = command(home, *args, pause_at=point)
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
def ingest_and_detect(reports, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("straight") / "home"
    assert run(home, "ingest", str(reports)).returncode in (0, 1)
    assert run(home, "detect").returncode == 0
    return snapshot(home)


@pytest.mark.parametrize(
    "point, rerun",
    [
        ("ingest-committed", "ingest"),  # all files committed, no derivation done: a rerun says 重复文件
        ("prepare", "detect"),  # payments rebuilt, parties and actors not: detect finishes them first
    ],
)
def test_ingest_killed_after_commit_is_finished_by_the_next_run(reports, tmp_path, ingest_and_detect, point, rerun):
    home = tmp_path / "home"
    kill_at(home, point, "ingest", str(reports))
    if rerun == "ingest":
        run(home, "ingest", str(reports))
    assert run(home, "detect").returncode == 0
    assert snapshot(home) == ingest_and_detect


def test_detect_killed_is_closed_as_failed_and_redone(reports, tmp_path, ingest_and_detect):
    home = tmp_path / "home"
    run(home, "ingest", str(reports))
    kill_at(home, "detect-written", "detect")
    assert run(home, "detect").returncode == 0
    assert snapshot(home) == ingest_and_detect
    assert [kind for kind, _ in failed_runs(home)] == ["detect"]


@pytest.fixture(scope="module")
def nightly_straight(reports, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("night") / "home"
    shutil.copytree(reports, home / "inbox")
    done = run(home, "nightly")
    assert "publish" in done.stdout or done.returncode in (0, 1), done.stderr[-3000:]
    assert not list((home / "inbox").rglob("*.*"))
    return snapshot(home)


@pytest.mark.parametrize("point", ["nightly-ingested", "prepare", "nightly-detected", "nightly-published"])
def test_nightly_killed_anywhere_is_finished_by_the_next_night(reports, tmp_path, nightly_straight, point):
    home = tmp_path / "home"
    shutil.copytree(reports, home / "inbox")
    kill_at(home, point, "nightly")
    assert list((home / "inbox").rglob("*.*")), "nothing is archived before the night has committed"
    done = run(home, "nightly")
    assert "没有新文件" not in done.stdout
    assert not list((home / "inbox").rglob("*.*"))
    assert snapshot(home) == nightly_straight
    assert "nightly" in [kind for kind, _ in failed_runs(home)]
