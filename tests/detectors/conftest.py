"""Fixtures for detector tests: an in-memory warehouse, the real rule pack, and `run` to apply one rule."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from detectors import DETECTORS
from detectors.base import Window
from detectors.pack import load_rule_pack
from pipelines.warehouse.db import connect_memory
from tests.builders import HOME_REGION

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(scope="session")
def pack():
    return load_rule_pack(RULES)


@pytest.fixture
def con():
    connection = connect_memory()
    yield connection
    connection.close()


@pytest.fixture
def run(con, pack):
    """run(rule_id, as_of, **params) → alerts of that rule over its window ending on as_of (a date)."""

    def apply(rule_id: str, as_of: date, **params):
        rule = pack.rule(rule_id)
        if any(field.name == "home_region" for field in dataclasses.fields(rule.params)):
            params.setdefault("home_region", HOME_REGION)
        rule = dataclasses.replace(rule, params=dataclasses.replace(rule.params, **params))
        return DETECTORS[rule.detector].detect(con, rule, Window(as_of=as_of, days=rule.params.window_days))

    return apply
