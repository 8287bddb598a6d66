"""Shared fixtures: every test gets its own home folder; nothing touches ./var or the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.settings import Settings

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data_samples"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    found = Settings.load(home)
    found.ensure_folders()
    return found


@pytest.fixture
def warehouse(settings: Settings):
    from pipelines.warehouse import db as warehouse

    con = warehouse.connect(settings)
    yield con
    con.close()


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect API for the whole session (~8 s), only for tests that run flows."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    # A busy machine (CI, or several suites at once) can take well over Prefect's default 30 s to start it.
    with prefect_test_harness(server_startup_timeout=180):
        yield
