"""Publishing leads (issue 14, done-when 5): a generated county with 80 schemes, ingested and detected once, then
one run's rings published into an empty case store — time and peak memory of the publishing alone, and the
lead-level backtest of what it published.

Generate, ingest and detect (`--no-publish`) run as `fundflow` commands; the publish runs in a process of its own,
so its peak RSS is its own. Size: BENCH_PUBLISH_PERSONS (default 20000), BENCH_PUBLISH_SCHEMES (default 80),
BENCH_PUBLISH_DAYS (default 90), BENCH_PUBLISH_SEED (default 2); BENCH_PUBLISH_HOME reuses a home already detected (skips the first three steps;
its case store must be empty), with BENCH_PUBLISH_TRUTH its county's truth/accounts.csv for the lead backtest;
BENCH_PUBLISH_KEEP=DIR makes the county and home in DIR and leaves them there, to look at the leads afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PERSONS = int(os.environ.get("BENCH_PUBLISH_PERSONS", "20000"))
SCHEMES = int(os.environ.get("BENCH_PUBLISH_SCHEMES", "80"))
DAYS = int(os.environ.get("BENCH_PUBLISH_DAYS", "90"))
SEED = int(os.environ.get("BENCH_PUBLISH_SEED", "2"))

SCRIPT = r"""
import json, resource, sys, time
from pipelines.cases.publish import lead_policy, publish_run
from pipelines.cases.store import CaseStore
from pipelines.evaluation.lead_backtest import lead_results, scheme_visibility
from pipelines.evaluation.truth import read_truth
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse

settings = Settings.load(sys.argv[1])
con = warehouse.connect(settings)
run_id, payments = con.execute(
    "SELECT (SELECT run_id FROM runs WHERE kind = 'detect' AND status = 'ok' ORDER BY started_at DESC LIMIT 1),"
    " (SELECT count(*) FROM payments)"
).fetchone()
rings = con.execute("SELECT count(*) FROM rings WHERE run_id = ?", [run_id]).fetchone()[0]
began = time.perf_counter()
result = publish_run(settings, con, run_id)
seconds = time.perf_counter() - began
truth = read_truth(sys.argv[2]) if sys.argv[2] != "-" else None
visibility = scheme_visibility(con, truth, lead_policy(settings).opening_min_amount_cny) if truth else None
con.close()
store = CaseStore.open(settings)
found = lead_results(store, truth, visibility) if truth else {}
store.close()
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "payments": payments, "rings": rings, "new": result.new, "skipped": result.skipped,
                  "found": found}))
"""


def _fundflow(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipelines.cli", *args], check=True, stdout=subprocess.DEVNULL)


def main(out_dir: Path) -> list[dict]:
    keep = os.environ.get("BENCH_PUBLISH_KEEP")
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as temporary:
        scratch = keep or temporary
        home = os.environ.get("BENCH_PUBLISH_HOME")
        truth = os.environ.get("BENCH_PUBLISH_TRUTH", "-")
        prepare = 0.0
        if not home:
            county, home = Path(scratch) / "county", str(Path(scratch) / "home")
            began = time.perf_counter()
            _fundflow("generate", "--out", str(county), "--persons", str(PERSONS), "--days", str(DAYS),
                      "--schemes", str(SCHEMES), "--seed", str(SEED))  # fmt: skip
            _fundflow("--home", home, "ingest", str(county / "reports"))
            _fundflow("--home", home, "detect", "--no-publish")
            prepare = time.perf_counter() - began
            truth = str(county / "truth" / "accounts.csv")
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, home, truth], check=True, capture_output=True, text=True
        ).stdout
    figures = json.loads(done.strip().splitlines()[-1])
    found = figures["found"]
    county = f"{PERSONS:,} persons, {SCHEMES} schemes, {DAYS} days, seed {SEED}"
    rows = [
        {"figure": "payments in the county", "value": figures["payments"], "unit": "payments", "note": county},
        {"figure": "rings of the detect run", "value": figures["rings"], "unit": "rings"},
        {"figure": "publish time", "value": round(figures["seconds"], 2), "unit": "s", "note": "one transaction"},
        {
            "figure": "publish peak memory",
            "value": round(figures["peak_kib"] / 1024, 1),
            "unit": "MiB",
            "note": "peak RSS of the publishing process",
        },  # fmt: skip
        {
            "figure": "leads opened",
            "value": figures["new"],
            "unit": "leads",
            "note": f"rings below the opening rule: {figures['skipped']}",
        },  # fmt: skip
        {"figure": "generate + ingest + detect", "value": round(prepare, 1), "unit": "s", "note": "not publishing"},
    ]
    if found:
        rows += [
            {
                "figure": "hub is the core of exactly one lead",
                "value": found["hub_is_core_of_one_lead"],
                "unit": "schemes",
                "note": f"of {found['schemes_counted']} counted: visible in the reports and at the opening amount"
                f" ({found['schemes_visible']} visible, {found['schemes']} in all)",
            },  # fmt: skip
            {"figure": "most schemes in one lead", "value": found["max_schemes_per_lead"], "unit": "schemes"},
            {
                "figure": "leads holding no scheme",
                "value": found["leads_holding_no_scheme"],
                "unit": "leads",
                "note": f"look-alike accounts that are a lead's core: "
                f"{sum(entry['lead_core'] for entry in found['lookalikes'].values())} "
                f"(cleared {sum(entry['cleared'] for entry in found['lookalikes'].values())}); in the top 20: "
                f"{found['top_20_holding_no_scheme']}; ranked above a scheme's lead: {found['no_scheme_above_a_scheme']}",
            },  # fmt: skip
        ]
    return rows
