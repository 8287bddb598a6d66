"""Bringing payments, parties and actors up to date from the files that arrived gives exactly the rows a full
rebuild gives: random nights of small files with resubmissions, copies, both legs of a payment in different files
and nights, match numbers and near-tolerance times, shared phones, devices and IPs (DESIGN §7)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipelines.ingest.load import ingest_file
from pipelines.warehouse import actors
from pipelines.warehouse.prepare import pending_files, prepare_warehouse

HEADER = (
    "txn_ref,txn_time,account_no,account_name,customer_id_no,customer_phone,direction,amount,"
    "counterparty_account_no,counterparty_name,method,match_no,device_code,ip_address,legal_rep_id_no\n"
)
ACCOUNTS = ["6222021234567890128", "P9", *(f"ACC{number}" for number in range(3, 13))]
IDS = ["", "11010519491231002X", "91350100M000100Y43"]
PHONES = ["", "", "13800000001", "13800000002", "13800000003"]
DEVICES = ["", "", "DEV1", "DEV2", "DEV3"]
IPS = ["", "", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
MATCH_NOS = ["", "", "M1", "M2", "M3"]
DERIVED = {
    "payments": "SELECT * FROM payments",
    "parties": "SELECT * FROM parties",
    "actors": "SELECT * FROM actors",
    "actor_accounts": "SELECT * FROM actor_accounts",
    "account_keys": "SELECT * FROM account_keys",
}
START = datetime(2025, 3, 1, 10, 0)


def random_line(rng: random.Random, ref: str, spread_days: int = 0) -> str:
    account, counterparty = rng.sample(ACCOUNTS, 2)
    cash = rng.random() < 0.15
    when = START + timedelta(minutes=rng.choice([0, 3, 8, 9, 11, 12, 20, 24]), seconds=rng.randrange(60))
    if spread_days:  # the lines of a file on several days (a line and its other leg may then not pair)
        when += timedelta(days=rng.randrange(spread_days))
    return ",".join(
        [
            ref,
            f"{when:%Y-%m-%d %H:%M:%S}",
            account,
            f"户{account[-2:]}",
            rng.choice(IDS),
            rng.choice(PHONES),
            rng.choice(["IN", "OUT"]),
            rng.choice(["100.00", "100.00", "250.00"]),
            "" if cash else counterparty,
            "" if cash else f"户{counterparty[-2:]}",
            "CASH" if cash else "TRANSFER",
            "" if cash else rng.choice(MATCH_NOS),
            rng.choice(DEVICES),
            rng.choice(IPS),
            rng.choice(["", "", IDS[1]]),
        ]
    )


def random_file(
    rng: random.Random, folder: Path, number: int, earlier: list[tuple[str, list[str]]], spread_days: int = 0
) -> Path:
    """A new file, or a bank's resubmission of (part of) an earlier one with some lines changed, or a copy."""
    choice = rng.random()
    if earlier and choice < 0.1:
        bank, lines = rng.choice(earlier)  # the same bytes again: a duplicate file, nothing changes
    elif earlier and choice < 0.45:
        bank, old = rng.choice(earlier)
        lines = [line if rng.random() < 0.5 else random_line(rng, line.split(",")[0], spread_days) for line in old]
        lines = rng.sample(lines, rng.randint(1, len(lines)))
    else:
        bank = rng.choice(["BANKA", "BANKB", "BANKC"])
        lines = [random_line(rng, f"R{rng.randrange(14)}", spread_days) for _ in range(rng.randint(1, 4))]
    earlier.append((bank, lines))
    path = folder / f"{bank}_{number:03d}_LARGE.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def snapshot(con) -> dict[str, list[tuple]]:
    return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in DERIVED.items()}


@pytest.mark.parametrize("seed", range(8))
def test_updates_night_after_night_equal_a_rebuild_row_for_row(settings, warehouse, tmp_path, seed, monkeypatch):
    # With a low bar, shared values become too common to link (and stop being so) within a few files.
    monkeypatch.setattr(actors, "MAX_ACCOUNTS_PER_KEY", 4)
    rng = random.Random(seed)
    earlier: list[tuple[str, list[str]]] = []
    number = 0
    for night in range(5):
        for _ in range(rng.randint(1, 3)):
            number += 1
            ingest_file(warehouse, settings, random_file(rng, tmp_path, number, earlier))
        updated = prepare_warehouse(warehouse, settings, mode="update")
        assert pending_files(warehouse) == 0
        incremental = snapshot(warehouse)
        prepare_warehouse(warehouse, settings, mode="rebuild")
        rebuilt = snapshot(warehouse)
        for name in DERIVED:
            assert incremental[name] == rebuilt[name], f"seed {seed}, night {night} ({updated.mode}): {name}"
    assert incremental["payments"], "the files made payments"


def test_an_update_touches_only_what_the_new_lines_reach(settings, warehouse, tmp_path):
    rng = random.Random(99)
    earlier: list[tuple[str, list[str]]] = []
    for number in range(1, 9):
        ingest_file(warehouse, settings, random_file(rng, tmp_path, number, earlier))
    prepare_warehouse(warehouse, settings, mode="update")
    lone = tmp_path / "BANKZ_1_LARGE.csv"
    lone.write_text(HEADER + "Z1,2025-03-02 09:00:00,LONE1,独户,,,OUT,77.00,,,CASH,,,,\n", encoding="utf-8")
    ingest_file(warehouse, settings, lone)
    result = prepare_warehouse(warehouse, settings)
    assert (result.mode, result.pending_files, result.touched_lines) == ("update", 1, 1)
    assert warehouse.execute("SELECT count(*) FROM parties WHERE account_no = 'LONE1'").fetchone()[0] == 1
    assert prepare_warehouse(warehouse, settings).mode == "nothing", "nothing pending: nothing done"


def test_a_prepare_that_fails_leaves_its_files_pending_and_the_next_completes_them(settings, warehouse, tmp_path):
    rng = random.Random(5)
    earlier: list[tuple[str, list[str]]] = []
    ingest_file(warehouse, settings, random_file(rng, tmp_path, 1, earlier))
    prepare_warehouse(warehouse, settings)
    before = snapshot(warehouse)
    ingest_file(warehouse, settings, random_file(rng, tmp_path, 2, earlier))

    def broken(con):
        raise RuntimeError("disk full")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipelines.warehouse.actors.update_actors", broken)
        with pytest.raises(RuntimeError):
            prepare_warehouse(warehouse, settings, mode="update")
    assert snapshot(warehouse) == before, "nothing half-done"
    assert pending_files(warehouse) == 1
    prepare_warehouse(warehouse, settings, mode="update")
    incremental = snapshot(warehouse)
    prepare_warehouse(warehouse, settings, mode="rebuild")
    assert incremental == snapshot(warehouse)


def test_fundflow_rebuild_repairs_damaged_derived_tables(settings, tmp_path, capsys):
    from pipelines.cli import main
    from pipelines.ingest.load import ingest_paths
    from pipelines.warehouse import db as warehouse_db
    from tests.conftest import SAMPLES

    ingest_paths(settings, [SAMPLES / "bank_files"], progress=False)
    con = warehouse_db.connect(settings)
    try:
        good = snapshot(con)
        con.execute(
            "DELETE FROM payments WHERE match_method <> 'one_leg'; DELETE FROM actors; UPDATE parties SET n_txn = 0"
        )
    finally:
        con.close()
    capsys.readouterr()
    assert main(["--home", str(settings.home), "rebuild"]) == 0
    shown = capsys.readouterr().out
    con = warehouse_db.connect(settings)
    try:
        assert snapshot(con) == good
    finally:
        con.close()
    assert f"付款 / payments: {len(good['payments']):,}" in shown and "主体 / actors" in shown


@pytest.mark.parametrize("seed", range(4))
def test_an_update_records_the_accounts_and_days_of_the_payments_it_adds_or_removes(
    settings, warehouse, tmp_path, seed
):
    """What the stored features and the kept window results rely on (detectors.scoring, pipelines.detection)."""
    rng = random.Random(seed)
    # features stored for some window: prepare records changed accounts only then
    warehouse.execute(
        "INSERT INTO feature_window VALUES (DATE '2025-01-01', DATE '2025-04-01', DATE '2025-03-31', '', '', now())"
    )
    earlier: list[tuple[str, list[str]]] = []
    number = 0
    for night in range(5):
        before = set(warehouse.execute("SELECT * FROM payments").fetchall())
        parties_before = set(warehouse.execute("SELECT * FROM parties").fetchall())
        warehouse.execute("DELETE FROM changed_accounts; DELETE FROM changed_days")
        for _ in range(rng.randint(1, 3)):
            number += 1
            ingest_file(warehouse, settings, random_file(rng, tmp_path, number, earlier, spread_days=40))
        prepare_warehouse(warehouse, settings, mode="update")
        after = set(warehouse.execute("SELECT * FROM payments").fetchall())
        holders_changed = {
            row[0] for row in parties_before ^ set(warehouse.execute("SELECT * FROM parties").fetchall())
        }
        columns = [column[0] for column in warehouse.execute("SELECT * FROM payments LIMIT 0").description]
        time_at, payer_at, payee_at = (columns.index(name) for name in ("txn_time", "payer_account", "payee_account"))
        differ = before ^ after
        days = {row[0] for row in warehouse.execute("SELECT day FROM changed_days").fetchall()}
        accounts = {row[0] for row in warehouse.execute("SELECT account_no FROM changed_accounts").fetchall()}
        # exactly those (and accounts whose holder facts changed): payments paired again as they were are no change
        assert {row[time_at].date() for row in differ} == days, f"seed {seed}, night {night}: days"
        paying = {row[at] for row in differ for at in (payer_at, payee_at)} - {None}
        assert paying | holders_changed == accounts, f"seed {seed}, night {night}: accounts"
    assert differ, "the last night changed payments"
