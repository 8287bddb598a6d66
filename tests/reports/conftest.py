"""A case store with two published leads, built once per session through the real publishing and lifecycle
functions, then copied into each test's home folder:

- lead A (hub `HUB`, 康乐养老…): 40 participants from Zhejiang and Jiangsu (cross-province), a person in it
  named `<script>…`, worked through to DISPOSITION with a ledger (a warning talk, a fine, a police transfer and
  a supervised repayment done; a rectification still open);
- lead B (hub `OTHER_HUB`, whose holder name starts with `=`): 30 local participants, in TRIAGE.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.cases import lifecycle
from pipelines.cases.publish import publish_run
from pipelines.cases.store import CaseStore
from pipelines.settings import Settings
from tests.pipelines.cases.test_publish import (
    CASHER,
    HUB,
    OTHER_HUB,
    PAYMENT_ROW,
    PAYMENT_SQL,
    add_ring,
    build_warehouse,
    seed_payments,
)

SCRIPT_NAME = '<script>alert("x")</script>李四'
FORMULA_NAME = '=HYPERLINK("x","点我")惠民农业专业合作社'
FINE = 200_000
REPAID = 150_000


def seed_local(con, hub: str, payers: int = 30, amount: int = 30_000) -> None:
    """`payers` local people (all in the county) pay `hub` once each in March 2025."""
    rows = []
    for i in range(payers):
        rows.append(
            (
                f"local-in-{i}",
                datetime(2025, 3, 2) + timedelta(minutes=i),
                amount,
                f"62280000{i:011d}",
                f"社员{i}",
                f"330782198001{i % 28 + 1:02d}{i:04d}",
                "PERSON",
                datetime(1980, 1, 1),
                "330782",
                hub,
                "惠民",
                "ORG",
                "330782",
                "TRANSFER",
                False,
                "合作社入股分红",
            )
        )
    con.execute(PAYMENT_SQL + ", ".join([PAYMENT_ROW] * len(rows)), [value for row in rows for value in row])


def work_lead_a(store: CaseStore, lead_id: str) -> None:
    due = date.today() + timedelta(days=30)
    lifecycle.assign(store, lead_id, "ana", "sup", "分配初核")
    lifecycle.move(store, lead_id, "CONSULTATION", "ana", "初核：多名老年人集中转入，提请会商")
    lifecycle.move(store, lead_id, "DETERMINED_ILLEGAL", "rev", "会商认定为非法集资")
    ids = {
        kind: lifecycle.add_measure(store, lead_id, kind, "ana", f"登记{kind}", due)
        for kind in ("WARNING_TALK", "FINE", "POLICE_TRANSFER", "SUPERVISE_REPAY", "RECTIFY")
    }
    lifecycle.move(store, lead_id, "DISPOSITION", "rev", "分类处置")
    lifecycle.complete_measure(store, lead_id, ids["WARNING_TALK"], "ana", "已约谈法定代表人")
    lifecycle.complete_measure(store, lead_id, ids["FINE"], "ana", "处罚决定书 2025-01", amount=FINE)
    lifecycle.complete_measure(
        store, lead_id, ids["POLICE_TRANSFER"], "ana", "已移送县公安局", transfer_no="YS-2025-007"
    )
    lifecycle.complete_measure(store, lead_id, ids["SUPERVISE_REPAY"], "ana", "监督清退第一批", amount=REPAID)


@pytest.fixture(scope="session")
def built_store(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("built") / "home"
    settings = Settings.load(home)
    settings.ensure_folders()
    con = build_warehouse()
    con.execute("UPDATE parties SET holder_name = ? WHERE account_no = ?", [SCRIPT_NAME, CASHER])
    con.execute("UPDATE parties SET holder_name = ? WHERE account_no = ?", [FORMULA_NAME, OTHER_HUB])
    seed_payments(con)
    seed_local(con, OTHER_HUB)
    add_ring(con, "run1")
    add_ring(con, "run1", hub=OTHER_HUB, members=(OTHER_HUB,), rules=("T1", "T8"), score=0.7)
    store = CaseStore.open(settings)
    try:
        result = publish_run(settings, con, "run1", store)
        for name, role in (("ana", "analyst"), ("rev", "reviewer"), ("sup", "supervisor")):
            store.add_user(name, role)
        lead_a, lead_b = result.lead_ids
        work_lead_a(store, lead_a)
        lifecycle.assign(store, lead_b, "ana", "sup", "分配初核")
    finally:
        store.close()
        con.close()
    return home / "cases.sqlite"


@pytest.fixture
def store_settings(settings: Settings, built_store: Path) -> Settings:
    """This test's settings, its home holding a copy of the built case store."""
    shutil.copy(built_store, settings.home / "cases.sqlite")
    return settings


@pytest.fixture
def lead_ids(store_settings: Settings) -> tuple[str, str]:
    store = CaseStore.open(store_settings)
    try:
        found = {lead["hub_account"]: lead["lead_id"] for lead in store.list_leads()}
    finally:
        store.close()
    return found[HUB], found[OTHER_HUB]
