"""The case store: schema and settings on SQLite and PostgreSQL, locking, the two hash chains and their verification, reading leads."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pipelines.cases.lifecycle import add_measure, assign, move
from pipelines.cases.store import SCHEMA_VERSION, CaseStore, CaseStoreBusyError, chain_heads, leads
from pipelines.errors import FundflowError, NotFoundError
from tests.pipelines.cases.test_lifecycle import DUE, PEOPLE, make_lead


@pytest.mark.sqlite_only
def test_sqlite_store_lives_in_the_home_folder_in_wal_mode_with_foreign_keys(settings, store):
    assert (settings.home / "cases.sqlite").exists()
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("SELECT max(version) FROM schema_version").scalar() == SCHEMA_VERSION
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO lead_accounts (lead_id, account_no, role, total_in, total_out) "
            "VALUES ('XS-none', '1', 'hub', 0, 0)"
        )


@pytest.mark.postgresql_only
def test_postgresql_store_keeps_office_time_enforces_keys_and_gives_up_waiting_like_sqlite(settings, store):
    assert settings.case_store_url.startswith("postgresql+psycopg://")
    assert not (settings.home / "cases.sqlite").exists()
    with store.read() as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "Asia/Shanghai"
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "10s"
        assert conn.exec_driver_sql("SELECT max(version) FROM schema_version").scalar() == SCHEMA_VERSION
        # stated lengths are not enforced, as on SQLite: the same value fits on both
        kinds = dict(
            conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'leads'"
            ).all()
        )
    assert kinds["lead_id"] == kinds["status"] == "text"
    assert kinds["created_at"] == "timestamp without time zone" and kinds["total_in"] == "numeric"
    assert kinds["provinces"] == "json" and kinds["score"] == "double precision"
    with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO lead_accounts (lead_id, account_no, role, total_in, total_out) "
            "VALUES ('XS-none', '1', 'hub', 0, 0)"
        )


@pytest.mark.postgresql_only
def test_a_store_dumped_and_restored_as_the_readme_says_verifies(settings, store, postgres_cluster, tmp_path):
    lead_id = make_lead(store)
    assign(store, lead_id, "ana", "sup", "分配")
    store.write_audit("ana", "unmask", target=lead_id, reason="移送公安")
    with store.read() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    dump = tmp_path / "cases.dump"
    postgres_cluster.client("pg_dump", "-Fc", "-n", schema, "-f", str(dump), "fundflow_test")
    database = f"restored_{schema}"
    postgres_cluster.new_database(database)
    postgres_cluster.client("pg_restore", "--no-owner", "-d", database, str(dump))
    restored = CaseStore(postgres_cluster.url(database, schema), settings)
    try:
        assert restored.verify_events().ok and restored.verify_audit().ok
        assert restored.get_lead(lead_id) == store.get_lead(lead_id)
        assert restored.verify_audit().checked == store.verify_audit().checked
    finally:
        restored.close()


def test_values_read_back_as_written_on_both_databases(store):
    lead_id = make_lead(store)
    at = datetime(2025, 3, 1, 23, 59, 58, 123456)  # late at night: a time zone shift would change the day
    with store.write() as conn:
        conn.execute(
            leads.update()
            .where(leads.c.lead_id == lead_id)
            .values(
                total_in=Decimal("12345678901234.56"),
                elderly_share=1 / 3,
                window_end=at,
                hold_since=at,
                subject_name="王" * 300,
                reasons=[{"zh": "原因", "n": 1.5, "list": [None, True]}],
            )
        )
        store.append_event(conn, lead_id, "ana", "note", "说明", detail={"when": at, "amount": Decimal("1.10")})
    lead = store.get_lead(lead_id)
    assert lead["total_in"] == Decimal("12345678901234.56") and lead["elderly_share"] == 1 / 3
    assert lead["window_end"] == at and lead["window_end"].tzinfo is None
    assert lead["subject_name"] == "王" * 300
    assert lead["reasons"] == [{"zh": "原因", "n": 1.5, "list": [None, True]}]
    assert lead["events"][-1]["detail"] == {"when": "2025-03-01 23:59:58.123456", "amount": "1.10"}
    assert store.verify_events().ok


def test_a_writer_kept_waiting_past_the_busy_timeout_is_told_the_store_is_busy(settings, store, monkeypatch):
    from pipelines.cases import store as store_module

    lead_id = make_lead(store)
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 1)
    other = CaseStore.open(settings)  # its own connections, opened with the short timeout
    holding, release = threading.Event(), threading.Event()

    def hold_the_lead():
        with store.write() as conn:
            store.lock_lead(conn, lead_id)
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_lead)
    holder.start()
    try:
        assert holding.wait(30)
        started = time.monotonic()
        with pytest.raises(CaseStoreBusyError, match="busy"):
            move(other, lead_id, "TRIAGE", "ana", "初核")
        assert 0.9 < time.monotonic() - started < 8
    finally:
        release.set()
        holder.join(30)
        other.close()
    assert store.get_lead(lead_id)["status"] == "NEW" and store.verify_events().ok


def test_reopening_the_store_keeps_its_data_and_applies_no_migration_twice(settings, store):
    make_lead(store)
    store.close()
    again = CaseStore.open(settings)
    with again.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() == SCHEMA_VERSION
    assert again.get_lead("XS2025-000001")["status"] == "NEW"
    again.close()


def test_a_version_1_store_gains_the_version_2_tables_and_keeps_its_data(settings):
    from pipelines.cases import store as store_module

    url, old_settings = settings.case_store_url, settings  # on SQLite and on PostgreSQL
    real = store_module.MIGRATIONS, store_module.SCHEMA_VERSION
    store_module.MIGRATIONS, store_module.SCHEMA_VERSION = real[0][:1], 1
    try:
        old = CaseStore(url, old_settings)
        old.add_user("ana", "analyst")
        old.close()
    finally:
        store_module.MIGRATIONS, store_module.SCHEMA_VERSION = real
    upgraded = CaseStore.open(old_settings)
    assert upgraded.get_user("ana")["role"] == "analyst"
    assert sa.inspect(upgraded.engine).has_table("sessions") and sa.inspect(upgraded.engine).has_table("notes")
    assert upgraded.verify_audit().ok
    upgraded.close()


def test_a_version_3_store_gains_the_lead_figures_and_keeps_its_leads_payments_and_events(settings):
    from pipelines.cases import store as store_module
    from pipelines.cases.timeline import lead_timeline

    real = store_module.MIGRATIONS, store_module.SCHEMA_VERSION
    store_module.MIGRATIONS, store_module.SCHEMA_VERSION = real[0][:3], 3
    try:
        old = CaseStore(settings.case_store_url, settings)
        lead_id = make_lead(old)
        with old.write() as conn:  # v3 columns only: the v4 ones do not exist yet
            conn.execute(
                sa.text(
                    "INSERT INTO lead_payments (lead_id, payment_id, run_id, txn_time, payer_account, payee_account,"
                    " amount, method, is_cash) VALUES (:lead, 'p1', 'run0', :at, '111', NULL, 5000, 'CASH', :cash)"
                ),
                {"lead": lead_id, "at": datetime(2025, 3, 1, 10), "cash": True},
            )
        old.close()
    finally:
        store_module.MIGRATIONS, store_module.SCHEMA_VERSION = real
    upgraded = CaseStore.open(settings)
    try:
        columns = {
            table: {c["name"] for c in sa.inspect(upgraded.engine).get_columns(table)}
            for table in ("leads", "lead_payments")
        }
        assert {"figures", "why"} <= columns["leads"] and "flow" in columns["lead_payments"]
        with upgraded.read() as conn:
            assert conn.exec_driver_sql("SELECT max(version) FROM schema_version").scalar() == SCHEMA_VERSION
        lead = upgraded.get_lead(lead_id)
        assert (lead["total_in"], lead["figures"], lead["why"]) == (Decimal("1000000"), None, None)
        assert [(p["payment_id"], p["flow"]) for p in lead["payments"]] == [("p1", None)]
        assert [e["action"] for e in lead["events"]] == ["created"] and upgraded.verify_events().ok
        assert lead_timeline(lead) == []  # no figures yet and no payment across a core account: no bars
        # an upgraded lead is worked on as before
        for name, role in (("ana", "analyst"), ("sup", "supervisor")):
            upgraded.add_user(name, role)
        assign(upgraded, lead_id, "ana", "sup", "分配初核")
        assert upgraded.get_lead(lead_id)["assignee"] == "ana" and upgraded.verify_events().ok
    finally:
        upgraded.close()


@pytest.mark.sqlite_only
def test_the_url_setting_chooses_the_database(tmp_path, settings):
    from dataclasses import replace

    other = replace(settings, cases_url=f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    opened = CaseStore.open(other)
    opened.add_user("x", "analyst")
    opened.close()
    assert (tmp_path / "elsewhere.sqlite").exists() and not (settings.home / "cases.sqlite").exists()


def test_an_untouched_event_chain_verifies(store):
    lead = make_lead(store)
    assign(store, lead, "ana", "sup", "分配")
    add_measure(store, lead, "FINE", "ana", "罚款", DUE)
    report = store.verify_events()
    assert report.ok and report.checked == 3


@pytest.mark.parametrize(
    "tamper, bad_seq",
    [
        ("UPDATE events SET note = '改过的说明' WHERE seq = 2", 2),
        ("UPDATE events SET \"user\" = 'someone_else' WHERE seq = 3", 3),
        ("UPDATE events SET at = '2020-01-01 00:00:00.000000' WHERE seq = 1", 1),
        ('UPDATE events SET detail = \'{"assignee": "bob"}\' WHERE seq = 2', 2),
        ("DELETE FROM events WHERE seq = 2", 2),
        ("DELETE FROM events WHERE seq = 3", 3),  # the newest: only the chain head notices
    ],
)
def test_tampering_with_a_stored_event_is_found_at_its_seq(store, tamper, bad_seq):
    lead = make_lead(store)
    assign(store, lead, "ana", "sup", "分配")
    move(store, lead, "ON_HOLD", "ana", "等待数据")
    with store.engine.begin() as conn:
        conn.exec_driver_sql(tamper)
    report = store.verify_events()
    assert not report.ok and report.first_bad_seq == bad_seq


def test_rewriting_an_event_and_its_hash_still_breaks_the_next_link(store):
    from pipelines.cases.store import EVENT_FIELDS, chain_hash

    lead = make_lead(store)
    assign(store, lead, "ana", "sup", "分配")
    move(store, lead, "ON_HOLD", "ana", "等待数据")
    with store.engine.begin() as conn:
        row = dict(conn.execute(sa.text("SELECT * FROM events WHERE seq = 2")).mappings().one())
    event = store.get_lead(lead)["events"][1]
    event["note"] = "伪造"
    forged = chain_hash(row["prev_hash"], {name: event[name] for name in EVENT_FIELDS})
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE events SET note = '伪造', hash = :h WHERE seq = 2"), {"h": forged})
    assert store.verify_events().first_bad_seq == 3


def test_audit_log_is_chained_and_tamper_evident(store):
    store.write_audit("ana", "export", target="leads.xlsx", reason="报送处置办", file_sha256="ab" * 32)
    store.write_audit("ana", "unmask", target="XS2025-000001", reason="移送公安")
    report = store.verify_audit()
    assert report.ok and report.checked == len(PEOPLE) + 2  # each user added is audited too
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit SET reason = '随便看看' WHERE action = 'unmask'")
    assert store.verify_audit().first_bad_seq == len(PEOPLE) + 2


def test_chain_heads_count_what_was_written(store):
    make_lead(store)
    with store.read() as conn:
        heads = dict(conn.execute(sa.select(chain_heads.c.chain, chain_heads.c.seq)).all())
    assert heads == {"events": 1, "audit": len(PEOPLE), "tip_events": 0}


def test_list_leads_filters_by_status_assignee_sector_priority_and_date(store):
    first, second, third = (make_lead(store, f"XS2025-00000{n}") for n in (1, 2, 3))
    assign(store, first, "ana", "sup", "分配")
    with store.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE leads SET sectors = '[\"elderly_care\"]', priority = '[\"major_amount\"]', "
            f"score = 0.95 WHERE lead_id = '{second}'"
        )
    assert [lead["lead_id"] for lead in store.list_leads()][0] == second
    assert [lead["lead_id"] for lead in store.list_leads(status="TRIAGE")] == [first]
    assert [lead["lead_id"] for lead in store.list_leads(status=["NEW"])] == [second, third]
    assert [lead["lead_id"] for lead in store.list_leads(assignee="ana")] == [first]
    assert [lead["lead_id"] for lead in store.list_leads(sector="elderly_care")] == [second]
    assert [lead["lead_id"] for lead in store.list_leads(priority="major_amount")] == [second]
    today = store.today()
    assert len(store.list_leads(created_from=today, created_to=today)) == 3
    assert store.list_leads(created_to=today - timedelta(days=1)) == []
    assert len(store.list_leads(limit=2)) == 2


def test_get_lead_holds_everything_and_unknown_leads_say_so(store):
    lead = store.get_lead(make_lead(store))
    assert set(lead) >= {"accounts", "alerts", "payments", "runs", "measures", "events", "narrative", "reasons"}
    with pytest.raises(NotFoundError, match="XS2025-999999"):
        store.get_lead("XS2025-999999")


def test_users_have_known_roles_and_unique_names(store):
    with pytest.raises(FundflowError, match="unknown role"):
        store.add_user("x", "boss")
    with pytest.raises(FundflowError, match="already exists"):
        store.add_user("ana", "analyst")
    assert store.get_user("rev")["role"] == "reviewer"
