"""Generation speed and memory: a synthetic county of about 10,000,000 report lines (CSV, full reporting),
target under 2 minutes and 4 GiB on 2 cores (issue 3, item 4).

The generator runs in its own subprocess so its peak RSS is its own; the output (a few GB) goes to a
temporary folder and is deleted afterwards. Set BENCH_GENERATE_ROWS for another size.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from data_samples.generator import ROWS_PER_PERSON_DAY

ROWS = int(os.environ.get("BENCH_GENERATE_ROWS", "10000000"))
DAYS = 90

SCRIPT = """
import json, resource, sys, time
from data_samples.generator import generate_county
started = time.perf_counter()
summary = generate_county(sys.argv[1], persons=int(sys.argv[2]), days=int(sys.argv[3]), schemes=12, seed=1)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": summary["rows"],
                  "payments": summary["payments"], "files": summary["files"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(out_dir: Path) -> list[dict]:
    persons = math.ceil(ROWS / (DAYS * ROWS_PER_PERSON_DAY))
    folder = Path(tempfile.mkdtemp(prefix="fundflow-bench-generate-"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(folder / "county"), str(persons), str(DAYS)],
            check=True,
            capture_output=True,
            text=True,
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        size_mb = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows, seconds = measured["rows"], measured["seconds"]
    size = f"persons={persons:,}, days={DAYS}, csv, full reporting"
    figures = [
        {"figure": "report lines generated", "value": rows, "unit": "rows", "note": size},
        {"figure": "payments generated", "value": measured["payments"], "unit": "payments", "note": size},
        {"figure": "generation time", "value": round(seconds, 1), "unit": "s", "note": "target < 120 s"},
        {"figure": "generation rate", "value": round(rows / seconds), "unit": "rows/s", "note": ""},
        {"figure": "peak memory", "value": round(measured["peak_rss_mb"]), "unit": "MB", "note": "target < 4096 MB"},
        {"figure": "output size", "value": round(size_mb), "unit": "MB", "note": f"{measured['files']} files"},
    ]
    for row in figures:
        print(f"{row['figure']}: {row['value']:,} {row['unit']} {row['note']}")
    return figures
