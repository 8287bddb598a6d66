"""Fixtures shared by the case-store, lifecycle and concurrency tests."""

import pytest

from pipelines.cases.store import CaseStore
from tests.pipelines.cases.test_lifecycle import PEOPLE


@pytest.fixture
def store(settings):
    """A case store in the test's home folder with one user per role (see PEOPLE)."""
    opened = CaseStore.open(settings)
    for name, role in PEOPLE:
        opened.add_user(name, role)
    yield opened
    opened.close()
