"""Shared fixtures: every test gets its own home folder; nothing touches ./var or the network.

The case-store tests (the folders in BOTH_BACKENDS, or any test marked `case_stores`) run twice: on SQLite in the
home folder and on a throw-away PostgreSQL server (tests/postgres.py), each run on a store of its own.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

# DuckDB's look for pandas on every bound parameter answered at once: pipelines.warehouse.db.NotInstalled
import pipelines.warehouse.db  # noqa: F401
from pipelines.settings import Settings
from tests.postgres import OPT_OUT_VARIABLE, Cluster, PostgresUnavailable, postgres_bin

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data_samples"


# Every test module under these folders runs on both case stores; new modules there do so by themselves.
BOTH_BACKENDS = ("tests/pipelines/cases/", "tests/console/", "tests/pipelines/tips/")


def postgres_runs() -> bool:
    """PostgreSQL runs are on unless a developer turned them off; in CI they cannot be turned off."""
    return os.environ.get("CI") == "true" or os.environ.get(OPT_OUT_VARIABLE, "1") != "0"


def pytest_report_header(config) -> str:
    if not postgres_runs():
        return f"case store: SQLite only ({OPT_OUT_VARIABLE}=0)"
    try:
        return f"case store: SQLite and PostgreSQL ({postgres_bin()})"
    except PostgresUnavailable as exc:
        return f"case store: SQLite and PostgreSQL — {exc}"


# The files that use the session's test Prefect server (`prefect_harness`); they run on one xdist worker, so one
# server starts (~20 s of CPU and its own migrations), not one a worker. A file missing here fails collection.
PREFECT_SERVER_FILES = (
    "tests/pipelines/test_crash_safety.py",
    "tests/pipelines/test_flows.py",
    "tests/pipelines/test_flows_tips.py",
    "tests/pipelines/test_startup.py",
)


def file_of_test(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def in_prefect_server_file(nodeid: str) -> bool:
    return file_of_test(nodeid) in PREFECT_SERVER_FILES


def pytest_collection_modifyitems(config, items) -> None:
    """Files holding slow tests run first: with one worker per core and a file per worker, a long file that
    starts last leaves the other core idle at the end. The order inside a file is kept."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    # The PREFECT_SERVER_FILES first and together (as they run under xdist), so their server stops after them.
    items.sort(key=lambda item: (not in_prefect_server_file(item.nodeid), item.path not in slow_files))
    unlisted = {
        file_of_test(item.nodeid)
        for item in items
        if "prefect_harness" in item.fixturenames and not in_prefect_server_file(item.nodeid)
    }
    if unlisted:
        raise pytest.UsageError(f"add to PREFECT_SERVER_FILES in tests/conftest.py: {', '.join(sorted(unlisted))}")


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, except that the PREFECT_SERVER_FILES are one unit of work (one worker)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class PrefectFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "prefect-server" if in_prefect_server_file(nodeid) else file_of_test(nodeid)

    return PrefectFilesTogether(config, log)


def pytest_generate_tests(metafunc) -> None:
    if "case_backend" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only"):
        return
    if metafunc.definition.get_closest_marker("postgresql_only"):
        metafunc.parametrize("case_backend", ["postgresql"] if postgres_runs() else [], indirect=True)
        return
    where = Path(metafunc.definition.path).relative_to(REPO).as_posix()
    if where.startswith(BOTH_BACKENDS) or metafunc.definition.get_closest_marker("case_stores"):
        backends = ["sqlite", "postgresql"] if postgres_runs() else ["sqlite"]
        metafunc.parametrize("case_backend", backends, indirect=True)


@pytest.fixture
def case_backend(request) -> str:
    """Which database the test's case store is on: sqlite unless the test is parametrised over both."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_cluster():
    """One PostgreSQL server for the session, started on first use; failing to start fails the tests."""
    try:
        cluster = Cluster()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        cluster.stop()
        pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def settings(tmp_path: Path, case_backend: str, request, monkeypatch) -> Settings:
    # Through the environment, so processes a test starts (and Settings.load() calls in it) use the same store.
    if case_backend == "postgresql":
        monkeypatch.setenv("FUNDFLOW_CASES_URL", request.getfixturevalue("postgres_cluster").new_schema_url())
    else:
        monkeypatch.delenv("FUNDFLOW_CASES_URL", raising=False)
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


# The test Prefect server, stopped as soon as the last test of the PREFECT_SERVER_FILES is done: idle, it still
# takes ~7 % of a core (its background services poll), for the rest of the session on its worker.
_prefect_server = ExitStack()
_prefect_server_stopped = False


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect API for the tests that run flows (~8 s to start)."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    # A busy machine (CI, or several suites at once) can take well over Prefect's default 30 s to start it.
    _prefect_server.enter_context(prefect_test_harness(server_startup_timeout=180))
    yield
    _prefect_server.close()


def pytest_runtest_setup(item) -> None:
    if _prefect_server_stopped and "prefect_harness" in item.fixturenames:
        pytest.fail("the test Prefect server was already stopped: keep PREFECT_SERVER_FILES' tests together")


def pytest_runtest_teardown(item, nextitem) -> None:
    global _prefect_server_stopped
    if in_prefect_server_file(item.nodeid) and (nextitem is None or not in_prefect_server_file(nextitem.nodeid)):
        _prefect_server.close()
        _prefect_server_stopped = True
