"""Ingest speed and memory on a generated 1,000,000-row UTF-8 CSV (about 200 MB), against DuckDB's own
`CREATE TABLE t AS SELECT * FROM read_csv(...)` on the same file (issue 2, items 7 and 8).

DuckDB's side runs with its defaults and again with the storage version the warehouse is created with
(pipelines.warehouse.db.STORAGE_VERSION), which writes faster; both ratios are reported. The three runs take
turns, BENCH_INGEST_REPEATS times (default 3), and the medians are reported: a virtual machine's speed
drifts by a fifth from one minute to the next.

Each side runs in its own subprocess so its peak RSS is its own. Set BENCH_INGEST_ROWS for another size.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.idcodes import luhn_check_digit, resident_id_check_char, uscc_check_char
from pipelines.warehouse.db import STORAGE_VERSION

ROWS = int(os.environ.get("BENCH_INGEST_ROWS", "1000000"))
REPEATS = int(os.environ.get("BENCH_INGEST_REPEATS", "3"))
PERSONS = 50_000
ORGS = 500

RAW_SCRIPT = """
import json, resource, sys, time, duckdb
con = duckdb.connect(sys.argv[2], config={"storage_compatibility_version": sys.argv[3]} if sys.argv[3] else {})
started = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [sys.argv[1]])
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FUNDFLOW_SCRIPT = """
import json, resource, sys, time
from pipelines.warehouse import db as warehouse
from pipelines.ingest.load import ingest_file
from pipelines.warehouse.parties import refresh_parties
from pipelines.warehouse.reconcile import rebuild_payments
from pipelines.settings import Settings
settings = Settings.load(sys.argv[2])
settings.ensure_folders()
con = warehouse.connect(settings)
started = time.perf_counter()
result = ingest_file(con, settings, sys.argv[1], progress=True)
ingested = time.perf_counter()
rebuild_payments(con, settings)
reconciled = time.perf_counter()
refresh_parties(con)
done = time.perf_counter()
con.close()
print(json.dumps({"seconds": ingested - started, "payments_seconds": reconciled - ingested,
                  "parties_seconds": done - reconciled, "rows": result.loaded, "quarantined": result.quarantined,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _people(rng: np.random.Generator) -> tuple[list[str], list[str], list[str]]:
    births = rng.integers(0, 365 * 60, PERSONS)
    ids, cards, names = [], [], []
    surnames, given = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨", "一二三四五六七八九十明华英芳军"
    for number in range(PERSONS):
        year, day = 1945 + births[number] // 365, births[number] % 365
        first17 = f"330782{year:04d}{1 + day // 31 % 12:02d}{1 + day % 28:02d}{number % 1000:03d}"
        ids.append(first17 + resident_id_check_char(first17))
        partial = f"622848{number:012d}"
        cards.append(partial + luhn_check_digit(partial))
        names.append(surnames[number % 16] + given[number // 16 % 15] + given[number // 240 % 15])
    return ids, cards, names


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    """Canonical columns, valid values throughout, written by polars in one go."""
    rng = np.random.default_rng(seed)
    ids, cards, names = _people(rng)
    org_ids = [f"91330782MA{n:07d}"[:17] for n in range(ORGS)]
    org_ids = [code + uscc_check_char(code) for code in org_ids]
    org_accounts = [f"3307820100{n:010d}" for n in range(ORGS)]
    person = rng.integers(0, PERSONS, rows)
    org = rng.integers(0, ORGS, rows)
    seconds = rng.integers(0, 90 * 86400, rows)
    cents = rng.integers(10_000, 500_000_000, rows)
    outgoing = rng.random(rows) < 0.5
    frame = pl.DataFrame(
        {
            "report_kind": np.where(rng.random(rows) < 0.8, "LARGE", "SUSPICIOUS"),
            "institution_code": "C1234533000011",
            "txn_ref": [f"T{n:010d}" for n in range(rows)],
            "txn_time": (np.datetime64("2025-01-01T00:00:00") + seconds.astype("timedelta64[s]")).astype(
                "datetime64[ms]"
            ),
            "account_no": np.array(cards)[person],
            "account_name": np.array(names)[person],
            "customer_id_type": "身份证",
            "customer_id_no": np.array(ids)[person],
            "direction": np.where(outgoing, "OUT", "IN"),
            "amount": cents,
            "currency": "CNY",
            "counterparty_account_no": np.array(org_accounts)[org],
            "counterparty_name": "示例投资有限公司",
            "counterparty_id_type": "统一社会信用代码",
            "counterparty_id_no": np.array(org_ids)[org],
            "counterparty_institution": "C2345633000022",
            "method": np.where(rng.random(rows) < 0.7, "TRANSFER", "ONLINE"),
            "purpose": "投资",
            "memo": np.where(rng.random(rows) < 0.1, "月息2分 保本", "货款"),
            "place_code": "330782",
            "match_no": [f"M{n:010d}" for n in range(rows)],
        }
    )
    frame.with_columns(
        pl.col("txn_time").dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.format("{}.{}", pl.col("amount") // 100, (pl.col("amount") % 100).cast(pl.Utf8).str.zfill(2)).alias(
            "amount"
        ),
    ).write_csv(path)


def _run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict]) -> dict:
    """The run with the median time, so its other figures come from the same run."""
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def main(out_dir: Path) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_", dir=os.environ.get("BENCH_TMP")))
    raw_runs, raw_same_runs, our_runs = [], [], []
    try:
        csv_path = work / "C1234533000011_bench_LARGE.csv"
        make_csv(csv_path, ROWS)
        size_mb = csv_path.stat().st_size / 1e6
        for attempt in range(REPEATS):
            raw_runs.append(_run(RAW_SCRIPT, str(csv_path), str(work / f"raw{attempt}.duckdb"), ""))
            raw_same_runs.append(_run(RAW_SCRIPT, str(csv_path), str(work / f"same{attempt}.duckdb"), STORAGE_VERSION))
            our_runs.append(_run(FUNDFLOW_SCRIPT, str(csv_path), str(work / f"home{attempt}")))
            for leftover in work.glob(f"*{attempt}.duckdb*"):
                leftover.unlink()
            shutil.rmtree(work / f"home{attempt}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw, raw_same, ours = _median_run(raw_runs), _median_run(raw_same_runs), _median_run(our_runs)
    raw_speed = raw["rows"] / raw["seconds"]
    raw_same_speed = raw_same["rows"] / raw_same["seconds"]
    our_speed = ours["rows"] / ours["seconds"]
    spread = ", ".join(f"{run['seconds']:.2f}" for run in our_runs)
    return [
        {"figure": "rows in the CSV", "value": ROWS, "unit": "rows"},
        {"figure": "CSV size", "value": size_mb, "unit": "MB"},
        {
            "figure": "DuckDB read_csv into a table",
            "value": raw_speed,
            "unit": "rows/s",
            "note": f"median {raw['seconds']:.2f} s, file-backed database, DuckDB defaults",
        },
        {
            "figure": f"DuckDB read_csv into a table, storage {STORAGE_VERSION}",
            "value": raw_same_speed,
            "unit": "rows/s",
            "note": f"median {raw_same['seconds']:.2f} s, the storage version of the warehouse",
        },
        {
            "figure": "fundflow ingest (validate + load, one transaction)",
            "value": our_speed,
            "unit": "rows/s",
            "note": f"median of {spread} s; {ours['rows']:,} loaded, {ours['quarantined']:,} quarantined",
        },
        {"figure": "ratio fundflow / DuckDB", "value": our_speed / raw_speed, "unit": "", "note": "target ≥ 0.5"},
        {
            "figure": f"ratio fundflow / DuckDB at storage {STORAGE_VERSION}",
            "value": our_speed / raw_same_speed,
            "unit": "",
            "note": "same storage on both sides",
        },
        {"figure": "rebuild payments (full)", "value": ours["payments_seconds"], "unit": "s"},
        {"figure": "refresh parties (full)", "value": ours["parties_seconds"], "unit": "s"},
        {
            "figure": "peak RSS, fundflow ingest process",
            "value": max(run["peak_rss_mb"] for run in our_runs),
            "unit": "MB",
            "note": "target < 2048",
        },
        {"figure": "peak RSS, DuckDB read_csv process", "value": raw["peak_rss_mb"], "unit": "MB"},
    ]


if __name__ == "__main__":
    for row in main(Path(".")):
        print(row)
