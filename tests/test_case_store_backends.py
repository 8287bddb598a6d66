"""The test set-up itself: the PostgreSQL runs cannot be turned off in CI, and a missing server is an error
that names the fix, never a silent skip."""

from __future__ import annotations

import pytest

from tests import postgres
from tests.conftest import postgres_runs


@pytest.mark.parametrize(
    "ci, opt_out, runs",
    [(None, None, True), (None, "0", False), ("true", "0", True), ("true", None, True), (None, "1", True)],
)
def test_postgresql_runs_are_off_only_where_a_developer_says_so_outside_ci(monkeypatch, ci, opt_out, runs):
    for name, value in (("CI", ci), (postgres.OPT_OUT_VARIABLE, opt_out)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert postgres_runs() is runs


def test_a_machine_without_the_server_is_told_how_to_install_it(monkeypatch):
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    with pytest.raises(postgres.PostgresUnavailable, match="scripts/setup_postgres.sh"):
        postgres.Cluster()
