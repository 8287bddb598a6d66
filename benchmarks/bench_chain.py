"""The whole nightly chain at scale against DuckDB's own load of the same files (issue 16).

Generates a county of about BENCH_CHAIN_LINES report lines (default 10,000,000; e.g. 2000000 for a quick run),
times DuckDB's `read_csv` of the files into one table, then `fundflow nightly` on a new home folder with all
files but one (night 1), and again with a 2,000-line file cut from the one held back (night 2). Night 2's lines
fall inside the run window, so its end does not move and the rules' windows are those of night 1. Night 3 is the
next 2,000 held-back lines moved to the day after the county's last: its window ends a day later, as every real
night's does, so nothing kept for night 2's windows applies. Each night runs as the real command in its own
process; its steps come from the night's run record, its peak RSS from the OS. Finally `fundflow rebuild` on the
same home shows what a night's prepare cost when it rebuilt everything.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from data_samples.generator import ROWS_PER_PERSON_DAY
from pipelines.warehouse.db import STORAGE_VERSION

LINES = int(os.environ.get("BENCH_CHAIN_LINES", "10000000"))
NIGHT_2_LINES = 2_000
DAYS = 90

RAW_SCRIPT = """
import json, resource, sys, time, duckdb
con = duckdb.connect(sys.argv[1], config={"storage_compatibility_version": sys.argv[2]})
files = json.loads(sys.argv[3])
started = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?, union_by_name = true)", [files])
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# Runs a command and reports its wall time and the largest RSS of it and everything it started.
MEASURE_SCRIPT = """
import json, resource, subprocess, sys, time
started = time.time()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"started": started, "seconds": time.time() - started, "returncode": done.returncode,
                  "stdout": done.stdout[-4000:], "stderr": done.stderr[-4000:],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

STEPS = ("ingest", "prepare", "detect", "publish", "tips", "export", "institutions")


def measured(command: list[str], env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_SCRIPT, *command], capture_output=True, text=True, env=env, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["returncode"] != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result['stderr']}")
    return result


def fundflow(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "--home", str(home), *args]


def night(home: Path, inbox: Path, env: dict) -> dict:
    run = measured(fundflow(home, "nightly", "--inbox", str(inbox)), env)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        (summary,) = con.execute(
            "SELECT summary FROM runs WHERE kind = 'nightly' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    summary = json.loads(summary)
    steps = dict(summary["step_seconds"])
    steps["Prefect start-up"] = summary["flow_started_at"] - run["started"]
    steps["total"] = run["seconds"]
    steps["peak RSS (MB)"] = run["peak_rss_mb"]
    steps["lines"] = summary["rows_loaded"]
    return steps


def cut_night_2_file(held_back: Path, target: Path) -> None:
    with open(held_back, encoding="utf-8") as source, open(target, "w", encoding="utf-8") as out:
        for number, line in enumerate(source):
            if number > NIGHT_2_LINES:
                break
            out.write(line)


def cut_next_day_file(held_back: Path, target: Path, day: date) -> None:
    """Night 3's file: the held-back lines after night 2's, dated `day` (times of day kept), with transaction
    references and matching numbers of their own, so that they are new lines and their legs still pair."""
    with (
        open(held_back, encoding="utf-8", newline="") as source,
        open(target, "w", encoding="utf-8", newline="") as out,
    ):
        reader, writer = csv.reader(source), csv.writer(out, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        ref, when, match = (header.index(name) for name in ("txn_ref", "txn_time", "match_no"))
        for number, row in enumerate(reader):
            if number < NIGHT_2_LINES:
                continue
            if number >= 2 * NIGHT_2_LINES:
                break
            row[ref] = "N3-" + row[ref]
            row[when] = day.isoformat() + row[when][10:]
            if row[match] not in ("", "@N"):
                row[match] += "-N3"
            writer.writerow(row)


def last_day(home: Path) -> date:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        found = con.execute("SELECT max(CAST(txn_time AS DATE)) FROM payments").fetchone()
    finally:
        con.close()
    assert found and found[0], "no payments after night 2"
    return found[0]


def main(out_dir: Path) -> list[dict]:
    persons = math.ceil(LINES / (DAYS * ROWS_PER_PERSON_DAY))
    folder = Path(os.environ.get("BENCH_CHAIN_DIR") or tempfile.mkdtemp(prefix="fundflow-bench-chain-"))
    # A new home each time, nothing of the caller's; only the start-up wait passes (a busy machine needs more).
    kept = ("FUNDFLOW_PREFECT_STARTUP_SECONDS",)
    env = {
        key: value for key, value in os.environ.items() if key in kept or not key.startswith(("PREFECT_", "FUNDFLOW_"))
    }
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    try:
        county = folder / "county"
        if not (county / "reports").is_dir():
            print(f"generating {LINES:,} lines (persons={persons:,}, days={DAYS}) …", file=sys.stderr, flush=True)
            subprocess.run(
                fundflow(folder / "unused", "generate", "--out", str(county), "--persons", str(persons))
                + ["--days", str(DAYS)],
                check=True,
                env=env,
                capture_output=True,
            )
        files = sorted((county / "reports").rglob("*.csv"), key=lambda path: path.stat().st_size)
        held_back, night_1_files = files[0], files[1:]

        print("DuckDB read_csv of the night-1 files …", file=sys.stderr, flush=True)
        raw_db = folder / "raw.duckdb"
        raw_db.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", RAW_SCRIPT, str(raw_db), STORAGE_VERSION, json.dumps(list(map(str, night_1_files)))],
            check=True,
            capture_output=True,
            text=True,
        )
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        raw_db.unlink(missing_ok=True)

        home = folder / "home"
        shutil.rmtree(home, ignore_errors=True)
        inbox_1, inbox_2, inbox_3 = folder / "inbox-1", folder / "inbox-2", folder / "inbox-3"
        for inbox in (inbox_1, inbox_2, inbox_3):
            shutil.rmtree(inbox, ignore_errors=True)
            inbox.mkdir()
        for path in night_1_files:
            shutil.copy2(path, inbox_1 / path.name)
        cut_night_2_file(held_back, inbox_2 / held_back.name)

        print(f"night 1: {len(night_1_files)} files …", file=sys.stderr, flush=True)
        first = night(home, inbox_1, env)
        print(f"night 2: {NIGHT_2_LINES:,} lines …", file=sys.stderr, flush=True)
        second = night(home, inbox_2, env)
        next_day = last_day(home) + timedelta(days=1)
        institution_and_period, kind = held_back.stem.rsplit("_", 1)  # the reader takes the kind from the name's end
        cut_next_day_file(held_back, inbox_3 / f"{institution_and_period}-{next_day:%Y%m%d}_{kind}.csv", next_day)
        print(f"night 3: {NIGHT_2_LINES:,} lines dated {next_day} …", file=sys.stderr, flush=True)
        third = night(home, inbox_3, env)
        print("fundflow rebuild (what prepare cost when every night rebuilt) …", file=sys.stderr, flush=True)
        started = time.monotonic()
        rebuild = measured(fundflow(home, "rebuild"), env)
        rebuild_seconds = time.monotonic() - started
    finally:
        if not os.environ.get("BENCH_CHAIN_DIR"):
            shutil.rmtree(folder, ignore_errors=True)

    table = chain_table(raw, first, second, third, rebuild_seconds, rebuild["peak_rss_mb"])
    print(table)
    (out_dir / "chain-table.md").write_text(table + "\n", encoding="utf-8")
    note = f"{LINES:,} lines asked, {raw['rows']:,} loaded by DuckDB"
    return [
        {"figure": "DuckDB read_csv (night-1 files)", "value": round(raw["seconds"], 1), "unit": "s", "note": note},
        {"figure": "night 1 total", "value": round(first["total"], 1), "unit": "s", "note": ""},
        {
            "figure": "night 1 / DuckDB load",
            "value": round(first["total"] / raw["seconds"], 2),
            "unit": "×",
            "note": "target ≤ 1.5",
        },
        {"figure": "night 2 total", "value": round(second["total"], 1), "unit": "s", "note": f"{NIGHT_2_LINES} lines"},
        {
            "figure": "night 2 / night 1",
            "value": round(second["total"] / first["total"], 3),
            "unit": "",
            "note": "target ≤ 0.10",
        },
        {
            "figure": "night 3 (next day) total",
            "value": round(third["total"], 1),
            "unit": "s",
            "note": f"{third['lines']} lines, window end moved",
        },
        {"figure": "night 3 / night 1", "value": round(third["total"] / first["total"], 3), "unit": "", "note": ""},
        {"figure": "night 1 peak RSS", "value": round(first["peak RSS (MB)"]), "unit": "MB", "note": "target ≤ 4096"},
        {"figure": "night 2 prepare (update)", "value": round(second["prepare"], 1), "unit": "s", "note": ""},
        {"figure": "rebuild (old nightly prepare)", "value": round(rebuild_seconds, 1), "unit": "s", "note": ""},
    ]


def chain_table(raw: dict, first: dict, second: dict, third: dict, rebuild_seconds: float, rebuild_rss: float) -> str:
    nights = (first, second, third)
    lines = [
        f"| step | night 1 ({first['lines']:,} lines) | night 2 ({second['lines']:,} lines, same window) "
        f"| night 3 ({third['lines']:,} lines, next day) |",
        "|---|---|---|---|",
    ]
    for step in ("Prefect start-up", *STEPS, "total"):
        lines.append(f"| {step} | " + " | ".join(f"{one.get(step, 0):.1f} s" for one in nights) + " |")
    lines.append("| peak RSS | " + " | ".join(f"{one['peak RSS (MB)']:,.0f} MB" for one in nights) + " |")
    lines += [
        "",
        f"DuckDB read_csv of the same night-1 files into one table: {raw['seconds']:.1f} s "
        f"({raw['rows']:,} rows, peak {raw['peak_rss_mb']:,.0f} MB)",
        f"night 1 / DuckDB load = {first['total'] / raw['seconds']:.2f}× (target ≤ 1.5×)",
        f"night 2 / night 1 = {second['total'] / first['total']:.1%} (target ≤ 10%)",
        f"night 3 (next day) / night 1 = {third['total'] / first['total']:.1%}",
        f"`fundflow rebuild` afterwards (what prepare cost every night before): {rebuild_seconds:.1f} s, "
        f"peak {rebuild_rss:,.0f} MB",
    ]
    return "\n".join(lines)
