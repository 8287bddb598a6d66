"""Console fixtures: a case store holding published leads (rows written through the case store's schema,
as `pipelines.cases.publish` publishes them), users of every role, and a logged-in TestClient."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from console import auth, users
from pipelines.cases.store import CaseStore, lead_accounts, lead_alerts, lead_payments, leads
from pipelines.settings import Settings

PASSWORD = "correct horse battery"
ROLES = ("analyst", "reviewer", "supervisor", "auditor", "admin")
HUB = "6222020000000000018"
COLLECTOR = "6222020000000000026"
SUBJECT_ID = "33078219600101123X"


def investor_account(number: int) -> str:
    return f"62170{number:014d}"


def add_lead(
    store: CaseStore,
    lead_id: str,
    investors: int,
    *,
    hub_name: str = "金华某某养老服务有限公司",
    investor_name: str = "参与人",
    memo: str = "养老项目认购",
    status: str = "NEW",
    score: float = 0.9,
    typologies: tuple[str, ...] = ("fan_in", "elderly_payers"),
    provinces: tuple[str, ...] = ("33",),
    priority: tuple[str, ...] = (),
    province_stats: dict | None = None,
) -> dict:
    """Publish one lead: a hub and a collector fed by `investors` participants, each paying twice.

    Returns the facts a test checks against: accounts, payments, total in.
    """
    start = datetime(2025, 3, 1, 9, 0)
    accounts = [
        {
            "account_no": HUB,
            "account_name": hub_name,
            "role": "hub",
            "holder_id_no": "91330782MA2XXXXX1K",
            "holder_kind": "ORG",
        },
        {
            "account_no": COLLECTOR,
            "account_name": "王某某",
            "role": "collector",
            "holder_id_no": SUBJECT_ID,
            "holder_kind": "PERSON",
        },
    ] + [
        {
            "account_no": investor_account(i),
            "account_name": f"{investor_name}{i}",
            "role": "investor",
            "holder_id_no": f"3307821950{i % 12 + 1:02d}01{i % 1000:03d}1",
            "holder_kind": "PERSON",
        }
        for i in range(investors)
    ]
    payments = []
    for i in range(investors):
        for k in range(2):
            payments.append(
                {
                    "payment_id": f"{lead_id}-p{i}-{k}",
                    "txn_time": start + timedelta(days=(i + 30 * k) % 60, minutes=i),
                    "payer_account": investor_account(i),
                    "payer_name": f"{investor_name}{i}",
                    "payee_account": COLLECTOR if i % 2 else HUB,
                    "payee_name": None,
                    "amount": Decimal(10000 + i),
                    "memo": memo,
                }
            )
    payments.append(
        {
            "payment_id": f"{lead_id}-sweep",
            "txn_time": start + timedelta(days=20),
            "payer_account": COLLECTOR,
            "payer_name": "王某某",
            "payee_account": HUB,
            "payee_name": None,
            "amount": Decimal(500000),
            "memo": "归集",
        }
    )
    payments.append(
        {
            "payment_id": f"{lead_id}-cash",
            "txn_time": start + timedelta(days=45),
            "payer_account": HUB,
            "payer_name": hub_name,
            "payee_account": None,
            "payee_name": None,
            "amount": Decimal(300000),
            "memo": "取现",
        }
    )
    total_in = sum(p["amount"] for p in payments if p["payer_account"] and p["payer_account"].startswith("62170"))
    now = store.now()
    with store.write() as conn:
        conn.execute(
            leads.insert().values(
                lead_id=lead_id,
                ring_key=lead_id,
                status=status,
                source="model",
                hub_account=HUB,
                subject_name=hub_name,
                subject_id_no="91330782MA2XXXXX1K",
                subject_kind="ORG",
                subject_region="330782",
                window_start=start,
                window_end=start + timedelta(days=60),
                total_in=total_in,
                total_out=Decimal(300000),
                individual_payers=investors,
                elderly_share=0.6,
                provinces=list(provinces),
                province_stats=province_stats or [],
                typologies=list(typologies),
                rule_ids=["T1", "T6"],
                sectors=["elderly_care"],
                keywords=["养老"],
                priority=list(priority),
                score=score,
                narrative=f"{hub_name} 在 60 天内收到 {investors} 名个人转入，附言含“{memo}”。",
                reasons=[
                    {"rule_id": "T1", "zh": f"30 天内 {investors} 名个人转入", "en": "fan-in"},
                    {"rule_id": "T6", "zh": "转入人中 60% 年满 60 岁", "en": "elderly payers"},
                ],
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            lead_accounts.insert(),
            [
                dict(
                    lead_id=lead_id,
                    institution="105100000017",
                    holder_region="330782",
                    total_in=sum((p["amount"] for p in payments if p["payee_account"] == a["account_no"]), Decimal(0)),
                    total_out=sum((p["amount"] for p in payments if p["payer_account"] == a["account_no"]), Decimal(0)),
                    **a,
                )
                for a in accounts
            ],
        )
        conn.execute(
            lead_alerts.insert(),
            [
                dict(
                    lead_id=lead_id,
                    alert_id=f"{lead_id}-a1",
                    run_id="run-1",
                    rule_id="T1",
                    typology="fan_in",
                    title_zh="分散转入集中转出",
                    subject=HUB,
                    reason_zh=f"30 天内 {investors} 名个人转入",
                    reason_en="fan-in",
                    score=score,
                    window_start=start,
                    window_end=start + timedelta(days=30),
                    metrics={},
                    n_evidence=10,
                )
            ],
        )
        conn.execute(
            lead_payments.insert(),
            [
                dict(
                    lead_id=lead_id,
                    run_id="run-1",
                    payer_kind=None,
                    payer_region=None,
                    payee_kind=None,
                    payee_region=None,
                    method="CASH" if p["payee_account"] is None else "TRANSFER",
                    is_cash=p["payee_account"] is None,
                    purpose=None,
                    **p,
                )
                for p in payments
            ],
        )
        store.append_event(
            conn, lead_id, "system", "created", "规则引擎生成 / generated by the rule pack", None, status
        )
    return {"accounts": accounts, "payments": payments, "total_in": total_in}


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Argon2 at its production cost takes ~0.5 s a hash on this machine; tests hash with the cheapest one."""
    from argon2 import PasswordHasher

    from console import auth

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", cheap)
    monkeypatch.setattr(auth, "_DUMMY_HASH", cheap.hash("dummy"))


@pytest.fixture
def store(settings):
    opened = CaseStore.open(settings)
    for role in ROLES:
        users.add_user(opened, role, role, PASSWORD)
    users.add_user(opened, "analyst2", "analyst", PASSWORD)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def console_app(tmp_path_factory):
    """One console app for the worker's tests, with the key of the home it was made on: making one sets up ~45
    routes (~0.2 s of FastAPI's and pydantic's work), which is more than most console tests take."""
    from console.app import create_app

    first = Settings(home=tmp_path_factory.mktemp("console-app") / "home")
    made = create_app(first)
    yield made, first.home / auth.SESSION_KEY_FILE
    made.state.store.close()


@pytest.fixture
def app(console_app, settings, store):
    """The console app pointed at this test's home, as `create_app(settings)` makes it: the routes read the store,
    the settings and the key from `app.state` at each request. The home gets the key the session cookies are
    signed with (a copy of the first home's file, owner-only like its own would be)."""
    made, key_file = console_app
    shutil.copy2(key_file, settings.home / auth.SESSION_KEY_FILE)
    bound = CaseStore.open(settings)
    state = made.state
    state.store, state.settings, state.checked_chains = bound, settings, {}
    state.secret = auth.session_secret(settings)
    yield made
    bound.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, name: str, password: str = PASSWORD):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token}, follow_redirects=False)


@pytest.fixture
def client_for(app):
    """client_for('reviewer') → a TestClient logged in as that user."""
    from fastapi.testclient import TestClient

    made = []

    def make(name: str | None = None):
        client = TestClient(app)
        made.append(client)
        if name:
            assert login(client, name).status_code == 303
        return client

    yield make
    for client in made:
        client.close()
