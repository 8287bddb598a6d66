"""The case store: schema and settings on SQLite, the two hash chains and their verification, reading leads."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from pipelines.cases.lifecycle import add_measure, assign, move
from pipelines.cases.store import SCHEMA_VERSION, CaseStore, chain_heads
from pipelines.errors import FundflowError, NotFoundError
from tests.pipelines.cases.test_lifecycle import DUE, PEOPLE, make_lead


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


def test_reopening_the_store_keeps_its_data_and_applies_no_migration_twice(settings, store):
    make_lead(store)
    store.close()
    again = CaseStore.open(settings)
    with again.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() == SCHEMA_VERSION
    assert again.get_lead("XS2025-000001")["status"] == "NEW"
    again.close()


def test_a_version_1_store_gains_the_version_2_tables_and_keeps_its_data(tmp_path, settings):
    from dataclasses import replace

    from pipelines.cases import store as store_module

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old_settings = replace(settings, cases_url=url)
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
