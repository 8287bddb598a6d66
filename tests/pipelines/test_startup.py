"""Start-up of the nightly as an outside tool meets it: `fundflow --home NEW nightly` on a home folder that does
not exist, the temporary Prefect API's wait taken from its setting, and a server named by PREFECT_API_URL used."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.settings import PREFECT_STARTUP_SETTING, Settings
from tests.conftest import REPO, SAMPLES

ONE_FILE = SAMPLES / "bank_files" / "C1234533000011_20250301_LARGE.csv"


def fundflow(home: Path, inbox: Path, **env: str) -> subprocess.CompletedProcess:
    """The real command in a fresh process, with no Prefect settings inherited from the test session."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "FUNDFLOW_"))}
    clean.update({"PREFECT_LOGGING_LEVEL": "WARNING", **env})
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--home", str(home), "nightly", "--inbox", str(inbox)],
        capture_output=True,
        text=True,
        env=clean,
        cwd=REPO,
        timeout=600,
    )


def one_file_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy2(ONE_FILE, inbox / ONE_FILE.name)
    return inbox


def loaded_rows(home: Path) -> int:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM txn").fetchone()[0]
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_start_up_wait_is_taken_from_its_setting(tmp_path, monkeypatch):
    from prefect.settings.models.root import Settings as PrefectSettings

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv(PREFECT_STARTUP_SETTING, "20")
    monkeypatch.setenv("FUNDFLOW_PREFECT_STARTUP_SECONDS", "345")
    settings = Settings.load(tmp_path / "home")
    assert settings.prefect_startup_seconds == 345
    settings.apply_prefect_environment()
    # What Prefect itself reads when it starts its temporary server.
    assert PrefectSettings().server.ephemeral.startup_timeout_seconds == 345

    monkeypatch.delenv("FUNDFLOW_PREFECT_STARTUP_SECONDS")
    monkeypatch.delenv(PREFECT_STARTUP_SETTING)
    assert Settings.load(tmp_path / "home").prefect_startup_seconds == Settings.prefect_startup_seconds >= 120


def test_a_start_up_wait_that_is_not_whole_seconds_is_refused(tmp_path, monkeypatch):
    from pipelines.errors import ConfigError

    monkeypatch.setenv("FUNDFLOW_PREFECT_STARTUP_SECONDS", "soon")
    with pytest.raises(ConfigError, match="FUNDFLOW_PREFECT_STARTUP_SECONDS"):
        Settings.load(tmp_path / "home")


@pytest.mark.slow
def test_a_temporary_api_that_misses_its_wait_fails_with_one_clear_line(tmp_path):
    # One second is far less than the temporary server needs, so the wait must come from the setting.
    done = fundflow(tmp_path / "home", one_file_inbox(tmp_path), FUNDFLOW_PREFECT_STARTUP_SECONDS="1")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "within 1 s" in done.stderr and "FUNDFLOW_PREFECT_STARTUP_SECONDS" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_nightly_on_a_home_folder_that_does_not_exist_creates_it_loads_and_logs_to_its_last_line(tmp_path):
    home = tmp_path / "new" / "home"
    done = fundflow(home, one_file_inbox(tmp_path), PREFECT_LOGGING_LEVEL="INFO")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (home / "prefect").is_dir() and (home / "warehouse.duckdb").is_file()
    assert loaded_rows(home) == 4
    assert "导入行数 rows loaded 4" in done.stdout
    # Issue 16: left to Prefect's exit handlers, the queued logs went to the stopped temporary server, were
    # retried for about 80 s on every night, and the flow's closing line was lost.
    assert "Error logging to API" not in done.stderr
    prefect_db = sqlite3.connect(home / "prefect" / "prefect.db")
    try:
        flow_lines = [
            line
            for (line,) in prefect_db.execute("SELECT message FROM log WHERE task_run_id IS NULL ORDER BY timestamp")
        ]
    finally:
        prefect_db.close()
    assert flow_lines[0].startswith("Beginning flow run") and flow_lines[-1] == "Finished in state Completed()"


def test_an_api_url_that_does_not_answer_is_named_in_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/api"
    done = fundflow(tmp_path / "home", one_file_inbox(tmp_path), PREFECT_API_URL=url)
    assert done.returncode == 1
    assert url in done.stderr and "Traceback" not in done.stderr
    assert "temporary server" not in done.stderr, "no temporary server when PREFECT_API_URL is set"


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_nightly_runs_on_the_server_prefect_api_url_names(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()  # the session's test server
    home = tmp_path / "home"
    done = fundflow(home, one_file_inbox(tmp_path), PREFECT_API_URL=url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "temporary server" not in done.stderr
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    assert any(run.parameters.get("home") == str(home) and run.state.is_completed() for run in runs)
