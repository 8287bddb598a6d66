"""The whole rule pack with its SQL on DuckDB and on Spark `local[2]` over the same warehouse (issue 21, item 2).

The warehouse is filled as bench_detect fills it (range()/hash() in SQL, planted schemes). Each engine runs
`run_detection` in a subprocess of its own, so its peak memory — the Python process plus, for Spark, its JVM —
is its own (sampled every half second; the JVM, a child process, is also shown apart), and so is its CPU time
(the Python process's, plus the JVM's last sample). Each run's progress (rule by rule) goes to
out/bench_spark.<engine>.log and its raw figures to out/bench_spark.<engine>.json. Spark's time includes exporting
the tables as parquet and starting the JVM. Size: BENCH_SPARK_PAYMENTS (default 1,000,000; the issue's bar is
10,000,000); the payments are generated, not replicated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_detect import FILL_SCRIPT, SCHEMES

PAYMENTS = int(os.environ.get("BENCH_SPARK_PAYMENTS", "1000000"))

RUN_SCRIPT = r"""
import json, logging, sys, threading, time
import psutil
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse
from pipelines.detection.runner import run_detection

home, engine, out = sys.argv[1], sys.argv[2], sys.argv[3]
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
peak = {"total": 0, "python": 0, "jvm": 0}
jvm_cpu = {"seconds": 0.0}
def sample():
    me = psutil.Process()
    while True:
        try:
            python = me.memory_info().rss
            # the JVM pyspark starts (spark-submit → java) is a child of this process
            children = me.children(recursive=True)
            jvm = sum(c.memory_info().rss for c in children)
            jvm_cpu["seconds"] = max(jvm_cpu["seconds"], sum(sum(c.cpu_times()[:2]) for c in children))
        except psutil.Error:
            continue
        peak["total"] = max(peak["total"], python + jvm)
        peak["python"] = max(peak["python"], python)
        peak["jvm"] = max(peak["jvm"], jvm)
        time.sleep(0.5)
threading.Thread(target=sample, daemon=True).start()
settings = Settings.load(home)
con = warehouse.connect(settings)
began = time.perf_counter()
cpu_before = sum(psutil.Process().cpu_times()[:2])
result = run_detection(settings, con=con, engine=engine)
whole = time.perf_counter() - began
python_cpu = sum(psutil.Process().cpu_times()[:2]) - cpu_before
summary = json.loads(con.execute('SELECT summary FROM runs WHERE run_id = ?', [result.run_id]).fetchone()[0])
con.close()
time.sleep(0.6)
keys = sorted([a.rule_id, a.subject, str(a.window_start)] for a in result.alerts)
with open(out, 'w') as figures:
    json.dump({'whole_seconds': whole, 'seconds': summary['seconds'], 'alerts': keys, 'peak_bytes': peak,
               'alerts_per_rule': summary['alerts_per_rule'],
               'cpu_seconds': {'python': python_cpu, 'jvm': jvm_cpu['seconds']}}, figures)
"""


def _run(args: list[str], what: str, log_file: Path) -> None:
    with log_file.open("w", encoding="utf-8") as log:
        finished = subprocess.run(
            [sys.executable, "-c", *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
    if finished.returncode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"bench_spark {what} failed (log: {log_file}):\n{tail}")


def main(out_dir: Path) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=out_dir) as home:
        fill = FILL_SCRIPT + "\nopen(sys.argv[4], 'w').write(json.dumps({'rows': rows, 'fill': fill}))\ncon.close()\n"
        filled_file = Path(home) / "filled.json"
        _run([fill, home, str(PAYMENTS), str(SCHEMES), str(filled_file)], "fill", out_dir / "bench_spark.fill.log")
        filled = json.loads(filled_file.read_text(encoding="utf-8"))
        figures = {}
        for engine in ("duckdb", "spark"):
            out = Path(home) / f"{engine}.json"
            _run([RUN_SCRIPT, home, engine, str(out)], engine, out_dir / f"bench_spark.{engine}.log")
            figures[engine] = json.loads(out.read_text(encoding="utf-8"))
            (out_dir / f"bench_spark.{engine}.json").write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    rows = filled["rows"]
    duck, spark = figures["duckdb"], figures["spark"]
    same = duck["alerts"] == spark["alerts"]
    table = [
        {
            "figure": "payments in the warehouse",
            "value": rows,
            "unit": "payments",
            "note": f"filled as bench_detect does in {filled['fill']:.0f} s",
        }
    ]
    for engine, found in figures.items():
        rule_seconds = sum(spent for name, spent in found["seconds"].items() if name[:1] in "TAG")
        table += [
            {
                "figure": f"{engine}: whole pack (run_detection, alerts and rings written)",
                "value": round(found["whole_seconds"], 1),
                "unit": "s",
                "note": f"{rows / found['whole_seconds']:,.0f} payments/s; {len(found['alerts'])} alerts; "
                f"rules {rule_seconds:.0f} s"
                + (
                    f"; Spark start with parquet export {found['seconds']['spark_start']:.0f} s"
                    if engine == "spark"
                    else ""
                ),
            },
            {
                "figure": f"{engine}: peak memory (Python + JVM)",
                "value": round(found["peak_bytes"]["total"] / 2**30, 2),
                "unit": "GiB",
                "note": f"sampled every 0.5 s; Python alone {found['peak_bytes']['python'] / 2**30:.2f} GiB"
                + (f", the JVM alone {found['peak_bytes']['jvm'] / 2**30:.2f} GiB" if engine == "spark" else ""),
            },
            {
                "figure": f"{engine}: CPU time (user + system)",
                "value": round(found["cpu_seconds"]["python"] + found["cpu_seconds"]["jvm"], 1),
                "unit": "s",
                "note": f"Python {found['cpu_seconds']['python']:.0f} s"
                + (f", the JVM {found['cpu_seconds']['jvm']:.0f} s" if engine == "spark" else ""),
            },
        ]
    differing = [
        rule for rule in duck["alerts_per_rule"] if duck["alerts_per_rule"][rule] != spark["alerts_per_rule"].get(rule)
    ]
    table.append(
        {
            "figure": "alerts per rule equal on both engines",
            "value": "yes" if not differing else "NO",
            "unit": "",
            "note": ", ".join(f"{rule} {count}" for rule, count in duck["alerts_per_rule"].items())
            + (f"; differ: {', '.join(differing)}" if differing else ""),
        }
    )
    table.append(
        {
            "figure": "same alerts on both engines (rule, subject, window)",
            "value": "yes" if same else "NO",
            "unit": "",
            "note": f"{len(duck['alerts'])} on DuckDB, {len(spark['alerts'])} on Spark",
        }
    )
    slowest = sorted(
        (
            (name, spent, duck["seconds"].get(name, 0.0))
            for name, spent in spark["seconds"].items()
            if name[:1] in "TAG"
        ),
        key=lambda item: -item[1],
    )[:5]
    table.append(
        {
            "figure": "slowest rules on Spark (Spark s / DuckDB s)",
            "value": "",
            "unit": "",
            "note": ", ".join(f"{name} {spent:.0f}/{on_duck:.0f}" for name, spent, on_duck in slowest),
        }
    )
    return table


if __name__ == "__main__":
    for row in main(Path(__file__).resolve().parent / "out"):
        print(row)
