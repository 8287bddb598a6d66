"""`fundflow cases migrate --to URL`: an office's SQLite case store copied to PostgreSQL, rows and hash chains
intact, verified on the copy; a non-empty target or a broken source chain leaves the target as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from pipelines.cases import lifecycle, tips
from pipelines.cases.store import CaseStore, audit, events, leads, measures, tip_events
from pipelines.cli import main
from tests.pipelines.cases.test_lifecycle import DUE, make_lead
from tests.pipelines.cases.test_tips import tip

pytestmark = pytest.mark.sqlite_only  # the source is the SQLite store in the home folder


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    return postgres_cluster.new_schema_url()


def office_store(store: CaseStore) -> list[str]:
    """Two leads with a history (assignment, a move, measures, one done), a tip, audited views and exports."""
    first, second = make_lead(store, "XS2025-000001"), make_lead(store, "XS2025-000002")
    lifecycle.assign(store, first, "ana", "sup", "分配初核")
    lifecycle.assign(store, second, "bob", "sup", "分配初核")
    lifecycle.move(store, first, "CONSULTATION", "ana", "初核完毕，提请会商")
    measure = lifecycle.add_measure(store, first, "STOP_ORDER", "ana", "责令停止", DUE)
    lifecycle.complete_measure(store, first, measure, "ana", "已下达责令停止通知书")
    lifecycle.add_measure(store, second, "FINE", "bob", "罚款", DUE)
    tips.register_tip(store, tip(companies=["福寿康养老合作社"]), "ana")
    store.write_audit("ana", "unmask", target=first, reason="移送公安")
    store.write_audit("ana", "export", target="leads.xlsx", reason="报送处置办", file_sha256="ab" * 32)
    return [first, second]


def rows_of(store: CaseStore, table: sa.Table) -> list[dict]:
    with store.read() as conn:
        return [dict(row) for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings()]


def test_migrate_copies_the_store_to_postgresql_with_its_chains_intact(settings, store, postgres_url, capsys):
    lead_ids = office_store(store)
    assert main(["--home", str(settings.home), "cases", "migrate", "--to", postgres_url, "--user", "adm"]) == 0
    out = capsys.readouterr().out
    assert "events chain intact (8)" in out and f"audit chain intact ({rows_of(store, audit)[-1]['seq']})" in out
    assert f"tip_events chain intact ({len(rows_of(store, tip_events))})" in out

    copied = CaseStore.open(replace(settings, cases_url=postgres_url))
    try:
        assert copied.is_postgresql
        for lead_id in lead_ids:
            assert copied.get_lead(lead_id) == store.get_lead(lead_id)  # every field, type for type
        for table in (events, measures, leads, tip_events):
            assert rows_of(copied, table) == rows_of(store, table)
        # the audit log is the source's, then one record of the copy itself
        source_audit, target_audit = rows_of(store, audit), rows_of(copied, audit)
        assert target_audit[:-1] == source_audit
        assert (target_audit[-1]["user"], target_audit[-1]["action"]) == ("adm", "store_copy")
        assert target_audit[-1]["detail"]["rows"]["events"] == 8
        assert all(report.ok for report in copied.verify_chains())
        # new rows continue the copied ones: the next measure id follows the last copied one
        added = lifecycle.add_measure(copied, lead_ids[1], "STOP_ORDER", "bob", "责令停止", DUE)
        assert added == max(m["measure_id"] for m in rows_of(store, measures)) + 1
        assert copied.verify_events().ok
    finally:
        copied.close()


def test_leads_verify_reads_the_copy_when_pointed_at_postgresql(settings, store, postgres_url, monkeypatch, capsys):
    office_store(store)
    assert main(["--home", str(settings.home), "cases", "migrate", "--to", postgres_url]) == 0
    capsys.readouterr()
    monkeypatch.setenv("FUNDFLOW_CASES_URL", postgres_url)
    assert main(["--home", str(settings.home), "leads", "verify"]) == 0
    assert "events chain intact (8)" in capsys.readouterr().out
    with sa.create_engine(postgres_url).begin() as conn:
        conn.exec_driver_sql("UPDATE events SET note = '改过' WHERE seq = 3")
    assert main(["--home", str(settings.home), "leads", "verify"]) == 1
    assert "events chain broken at seq 3" in capsys.readouterr().out


def test_migrating_into_a_store_that_holds_data_copies_nothing(settings, store, postgres_url, capsys):
    office_store(store)
    assert main(["--home", str(settings.home), "cases", "migrate", "--to", postgres_url]) == 0
    capsys.readouterr()
    assert main(["--home", str(settings.home), "cases", "migrate", "--to", postgres_url]) == 1
    refusal = capsys.readouterr().err
    assert "not empty (" in refusal and "leads 2" in refusal and "events 8" in refusal
    assert "lead_runs" not in refusal  # empty tables are not listed
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 8
    engine.dispose()


def test_a_source_whose_chain_is_broken_is_not_copied(settings, store, postgres_url, capsys):
    office_store(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET note = '改过' WHERE seq = 2")
    assert main(["--home", str(settings.home), "cases", "migrate", "--to", postgres_url]) == 1
    assert "events chain does not verify after the copy (seq 2" in capsys.readouterr().err
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar() == 0  # rolled back whole
        assert conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar() == 0
    engine.dispose()


def test_a_target_that_is_not_a_database_url_is_refused(settings, store, capsys):
    assert main(["--home", str(settings.home), "cases", "migrate", "--to", "not a url"]) == 1
    assert "not a database URL" in capsys.readouterr().err
