"""The `fundflow` command as an outside tool runs it (DESIGN §6): a separate process on a home folder that does not
exist yet — ingest, detect (which publishes), export leads — and detecting again changes nothing."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO


def fundflow(home: Path, *args: str) -> str:
    """Run one `fundflow` command in its own process; its output, or the test fails showing what it said."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, f"fundflow {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def queue(home: Path) -> tuple[list[dict], int]:
    """The lead list as `leads list --json` gives it, and how many events the case store holds."""
    from pipelines.cases.store import CaseStore, events
    from pipelines.settings import Settings

    listed = json.loads(fundflow(home, "leads", "list", "--json"))
    store = CaseStore.open(Settings.load(home))
    try:
        with store.read() as conn:
            return listed, conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    finally:
        store.close()


@pytest.mark.slow
def test_detect_publishes_the_leads_export_lists_them_and_detecting_again_changes_nothing(tmp_path, monkeypatch):
    from data_samples.generator import generate_county

    monkeypatch.delenv("FUNDFLOW_CASES_URL", raising=False)  # the home's own SQLite store, here and in the commands

    county = tmp_path / "county"
    generate_county(county, persons=300, days=30, schemes=2, seed=5)
    home = tmp_path / "office" / "home"  # not there yet: the first command makes it
    fundflow(home, "ingest", str(county / "reports"))

    detected = fundflow(home, "detect")
    opened = int(re.search(r"新增 new (\d+)，", detected).group(1))
    listed, event_count = queue(home)
    assert opened >= 2 and len(listed) == opened, detected  # the county's two schemes at least
    assert all(lead["total_in"] and lead["individual_payers"] for lead in listed)
    assert event_count == opened  # one "created" event per lead

    out = tmp_path / "leads.csv"
    fundflow(home, "export", "leads", "--out", str(out))
    with out.open(encoding="utf-8-sig", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert sorted(row["lead_id"] for row in exported) == sorted(lead["lead_id"] for lead in listed)
    with (tmp_path / "leads.accounts.csv").open(encoding="utf-8-sig", newline="") as handle:
        hubs = {(row["lead_id"], row["role"]) for row in csv.DictReader(handle) if row["role"] == "hub"}
    assert hubs == {(lead["lead_id"], "hub") for lead in listed}  # one core account per lead, in the export too

    again = fundflow(home, "detect")
    assert f"新增 new 0，更新 updated 0，关联已销号 linked 0，无变化 unchanged {opened}" in again, again
    assert queue(home) == (listed, event_count)  # same leads, same figures, not one event more
