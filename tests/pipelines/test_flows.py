"""The nightly flow: only new files load, one corrupt file does not stop the others, a rerun adds nothing,
the schedule is what Prefect sees, and a lead's run names its input files and rule pack."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipelines.cli.nightly import nightly_command
from pipelines.flows import nightly_deployment, nightly_flow
from pipelines.warehouse import db as warehouse
from tests.conftest import SAMPLES

pytestmark = pytest.mark.usefixtures("prefect_harness")

BANK_FILES = SAMPLES / "bank_files"


def copy_samples(inbox: Path, names: list[str]) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(BANK_FILES / name, inbox / name)


def warehouse_counts(settings) -> tuple:
    con = warehouse.connect(settings)
    try:
        return tuple(
            con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("files", "txn", "quarantine", "alerts", "runs")
        )
    finally:
        con.close()


def test_rerun_without_new_files_adds_nothing_and_says_so(settings, capsys):
    copy_samples(settings.inbox, ["C1234533000011_20250301_LARGE.csv", "C2345633000022_20250301_BH.csv"])
    first = nightly_flow(str(settings.home))
    assert (first["loaded"], first["failed"], first["nothing_new"]) == (2, 0, False)
    assert not list(settings.inbox.glob("*.csv")), "loaded files move to the archive"
    assert len(list(settings.archive.rglob("*.csv"))) == 2
    files, txn, quarantine, alerts, _ = warehouse_counts(settings)

    args = type("Args", (), {"inbox": None})()
    assert nightly_command(args, settings) == 0
    assert "没有新文件" in capsys.readouterr().out
    assert warehouse_counts(settings)[:4] == (files, txn, quarantine, alerts)


def test_one_new_file_loads_only_that_file(settings):
    copy_samples(settings.inbox, ["C1234533000011_20250301_LARGE.csv"])
    nightly_flow(str(settings.home))
    copy_samples(settings.inbox, ["C3456733000033_20250302_SUSPICIOUS.csv"])
    second = nightly_flow(str(settings.home))
    assert [item["file_name"] for item in second["file_results"]] == ["C3456733000033_20250302_SUSPICIOUS.csv"]
    assert second["loaded"] == 1 and second["rows_loaded"] == 3


def test_a_corrupt_file_fails_alone_and_the_run_exits_non_zero(settings, capsys):
    copy_samples(settings.inbox, ["C1234533000011_20250301_LARGE.csv"])
    (settings.inbox / "C9999900000099_20250301_LARGE.xml").write_text("<PHTR><RBIF><RICD>C99", encoding="utf-8")
    args = type("Args", (), {"inbox": None})()
    assert nightly_command(args, settings) == 1
    out = capsys.readouterr().out
    assert "C9999900000099_20250301_LARGE.xml" in out and "失败" in out
    assert (settings.inbox / "C9999900000099_20250301_LARGE.xml").exists(), "a failed file stays in the inbox"
    assert warehouse_counts(settings)[0] == 1


def test_schedule_is_two_in_the_morning_shanghai_time_as_prefect_sees_it(settings):
    from prefect.server.schemas.schedules import CronSchedule

    deployment = nightly_deployment(settings)
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")
    server_side = CronSchedule(cron=schedule.cron, timezone=schedule.timezone)
    next_runs = asyncio.run(server_side.get_dates(n=2, start=datetime(2025, 6, 1, 12, 0, tzinfo=UTC)))
    assert [run.astimezone(ZoneInfo("Asia/Shanghai")).hour for run in next_runs] == [2, 2]
    assert [run.astimezone(UTC).hour for run in next_runs] == [18, 18]  # 02:00 +08:00
    assert deployment.parameters == {"home": str(settings.home)}


@pytest.mark.slow
def test_runs_show_names_the_files_and_rule_pack_behind_a_lead(settings, capsys):
    from data_samples.generator import generate_county
    from pipelines.cases.store import CaseStore
    from pipelines.cli import main

    county = settings.home.parent / "county"
    generate_county(county, persons=300, days=30, schemes=2, seed=5)  # small, and still publishes leads
    shutil.copytree(county / "reports", settings.inbox / "generated")
    summary = nightly_flow(str(settings.home))
    assert summary["publish"]["new"] >= 1

    store = CaseStore.open(settings)
    try:
        lead = store.list_leads(limit=1)[0]
    finally:
        store.close()
    run_id = lead["first_run_id"]
    con = warehouse.connect(settings)
    try:
        file_ids = {row[0] for row in con.execute("SELECT file_id FROM files").fetchall()}
        pack_hash = con.execute("SELECT rule_pack_hash FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    finally:
        con.close()
    capsys.readouterr()
    assert main(["--home", str(settings.home), "runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert pack_hash and pack_hash in shown
    assert file_ids and all(file_id in shown for file_id in file_ids)
