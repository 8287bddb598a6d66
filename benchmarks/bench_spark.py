"""The whole rule pack with its SQL on DuckDB and on Spark `local[2]` over the same warehouse (issue 21, item 2).

The warehouse is filled as bench_detect fills it (range()/hash() in SQL, planted schemes). Each engine runs
`run_detection` in a subprocess of its own, so its peak memory — the Python process plus, for Spark, its JVM —
is its own (sampled every half second; the JVM, a child process, is also shown apart), and so is its CPU time
(the Python process's, plus the JVM's last sample). Each run's progress goes to out/bench_spark.<engine>.log,
each finished rule (seconds, alerts with their subject, window and evidence digest, peak memory and CPU so far)
as a line of out/bench_spark.<engine>.rules.jsonl the moment it ends, also printed, and the run's raw figures to
out/bench_spark.<engine>.json; the table compares each rule's alerts across the engines, a stopped run's too.
Spark's time includes exporting the tables as parquet and starting the JVM. Size: BENCH_SPARK_PAYMENTS (default 1,000,000; the issue's bar is
10,000,000); the payments are generated, not replicated. BENCH_SPARK_LIMIT_MINUTES stops the Spark run after that
long, BENCH_SPARK_STOP_AT at that time (HH:MM UTC) — its process group, Python and the JVM — and the table reports
the rules it finished; FUNDFLOW_SPARK_DRIVER_MEMORY
sizes the JVM (2g by default). BENCH_SPARK_RULES=T2,T3,… runs only those rules of the pack, on both engines (a
partial pack without leads.yaml: a long run split in two; the graph rules see only the accounts those sweep
rules flag).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from benchmarks.bench_detect import FILL_SCRIPT, SCHEMES
from detectors.pack import LEADS_FILE
from pipelines.settings import Settings

PAYMENTS = int(os.environ.get("BENCH_SPARK_PAYMENTS", "1000000"))
LIMIT_MINUTES = float(os.environ.get("BENCH_SPARK_LIMIT_MINUTES", "0") or 0)
"""0: no limit."""
STOP_AT = os.environ.get("BENCH_SPARK_STOP_AT", "")
"""HH:MM (UTC, today): the Spark run is also stopped then, whenever it started."""
RULES = tuple(rule.strip() for rule in os.environ.get("BENCH_SPARK_RULES", "").split(",") if rule.strip())
"""Rule ids to run (both engines); empty: the whole pack."""


def _spark_limit() -> float | None:
    """Seconds the Spark run may take from now: the nearer of BENCH_SPARK_LIMIT_MINUTES and BENCH_SPARK_STOP_AT."""
    limits = [LIMIT_MINUTES * 60] if LIMIT_MINUTES > 0 else []
    if STOP_AT:
        hours, minutes = (int(part) for part in STOP_AT.split(":"))
        now = datetime.now(UTC)
        limits.append(max((now.replace(hour=hours, minute=minutes, second=0) - now).total_seconds(), 1.0))
    return min(limits) if limits else None


RUN_SCRIPT = r"""
import hashlib, json, logging, sys, threading, time
import psutil
from detectors import DETECTORS
from pipelines.detection import runner
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse
from pipelines.detection.runner import run_detection

home, engine, out, progress = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
peak = {"total": 0, "python": 0, "jvm": 0}
jvm_cpu = {"seconds": 0.0}
last_kept = {"at": 0.0}
open(progress, "w").close()

# each rule's figures and its alerts (subject, window, evidence digest) as a JSON line the moment the rule ends,
# so a run stopped at the limit leaves the rules it finished, comparable rule by rule across the engines: the
# runner's stages run one rule at a time through this wrapper (as they do inside _run_stage)
run_stage = runner._run_stage
def stage_by_rule(con, rules, stage, run_window, seconds=None):
    seconds = {} if seconds is None else seconds
    alerts = []
    for rule in rules:
        found = run_stage(con, (rule,), stage, run_window, seconds)
        alerts += found
        if getattr(DETECTORS[rule.detector], "STAGE", "sweep") != stage:
            continue
        keys = sorted([a.subject, str(a.window_start), hashlib.sha1(json.dumps(list(a.evidence)).encode()).hexdigest()[:12]]
                      for a in found)
        line = {"rule": rule.rule_id, "alerts": len(found), "seconds": seconds[rule.rule_id],
                "elapsed": round(time.perf_counter() - began, 1), "peak_bytes": dict(peak),
                "cpu_seconds": {"python": sum(psutil.Process().cpu_times()[:2]) - cpu_before,
                                "jvm": jvm_cpu["seconds"]},
                "keys": keys}
        with open(progress, "a") as lines:
            lines.write(json.dumps(line) + "\n")
    return alerts

runner._run_stage = stage_by_rule
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
        if time.perf_counter() - last_kept["at"] >= 5:
            # memory and CPU so far, for a run stopped at the limit
            last_kept["at"] = time.perf_counter()
            so_far = {"peak_bytes": dict(peak), "cpu_seconds": {"python": sum(me.cpu_times()[:2]), "jvm": jvm_cpu["seconds"]}}
            with open(progress + ".so_far", "w") as kept:
                kept.write(json.dumps(so_far))
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


def _run(
    args: list[str],
    what: str,
    log_file: Path,
    limit_seconds: float | None = None,
    env: dict[str, str] | None = None,
    progress: Path | None = None,
) -> bool:
    """Run a script in a process group of its own; False when it was stopped at `limit_seconds` (with the
    JVM it started: the group is signalled, not only the Python process). Each rule `progress` receives is
    printed as it comes."""
    with log_file.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,
            env=env,
        )
        deadline = None if limit_seconds is None else time.monotonic() + limit_seconds
        shown = 0
        try:
            while True:
                try:
                    returncode = process.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    shown = _show_progress(what, progress, shown)
                    if deadline is not None and time.monotonic() >= deadline:
                        _stop_group(process)
                        _show_progress(what, progress, shown)
                        return False
        except BaseException:
            _stop_group(process)
            raise
        _show_progress(what, progress, shown)
    if returncode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"bench_spark {what} failed (log: {log_file}):\n{tail}")
    return True


def _show_progress(what: str, progress: Path | None, shown: int) -> int:
    """Print the rules finished since the `shown` first; returns how many are shown now."""
    if progress is None:
        return shown
    rules = _finished_rules(progress)
    for rule in rules[shown:]:
        print(
            f"bench_spark {what}: rule {rule['rule']} {rule['seconds']:.1f} s, {rule['alerts']} alerts "
            f"({rule['elapsed']:.0f} s into the run)",
            file=sys.stderr,
            flush=True,
        )
    return max(shown, len(rules))


def _stop_group(process: subprocess.Popen) -> None:
    for stop in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, stop)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def _finished_rules(progress: Path) -> list[dict]:
    if not progress.exists():
        return []
    rules = []
    for line in progress.read_text(encoding="utf-8").splitlines():
        try:
            rules.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the last line, half written while the run goes on
    return rules


def _stopped_figures(progress: Path, spent: float) -> dict:
    """What a run stopped at the limit leaves: the rules it finished, memory and CPU up to its last 5 s."""
    rules = _finished_rules(progress)
    so_far = progress.with_name(progress.name + ".so_far")
    last = json.loads(so_far.read_text(encoding="utf-8")) if so_far.exists() else rules[-1] if rules else {}
    last.setdefault("peak_bytes", {"total": 0, "python": 0, "jvm": 0})
    last.setdefault("cpu_seconds", {})
    return {
        "stopped_after_seconds": spent,
        "whole_seconds": None,
        "seconds": {rule["rule"]: rule["seconds"] for rule in rules},
        "alerts_per_rule": {rule["rule"]: rule["alerts"] for rule in rules},
        "alerts": None,
        "peak_bytes": last["peak_bytes"],
        "cpu_seconds": {"python": last["cpu_seconds"].get("python", 0.0), "jvm": last["cpu_seconds"].get("jvm", 0.0)},
    }


def partial_pack(rules_dir: Path, rule_ids: tuple[str, ...], into: Path) -> Path:
    """A copy of the pack with only `rule_ids` (and the shared lists; no leads.yaml, which names other rules)."""
    into.mkdir(parents=True)
    found = set()
    for path in sorted(rules_dir.glob("*.yaml")):
        if path.name == LEADS_FILE:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rule_id = data.get("id") if isinstance(data, dict) else None
        if rule_id is None or rule_id in rule_ids:
            shutil.copy(path, into / path.name)
            found.add(rule_id)
    if (rules_dir / "institutions").is_dir():
        shutil.copytree(rules_dir / "institutions", into / "institutions")
    missing = sorted(set(rule_ids) - found)
    if missing:
        raise ValueError(f"BENCH_SPARK_RULES: no such rule in {rules_dir}: {', '.join(missing)}")
    return into


def main(out_dir: Path) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=out_dir) as home:
        env = None
        if RULES:
            rules_dir = partial_pack(Settings.load(home).rules_dir, RULES, Path(home) / "rules")
            env = os.environ | {"FUNDFLOW_RULES": str(rules_dir)}
        fill = FILL_SCRIPT + "\nopen(sys.argv[4], 'w').write(json.dumps({'rows': rows, 'fill': fill}))\ncon.close()\n"
        filled_file = Path(home) / "filled.json"
        _run([fill, home, str(PAYMENTS), str(SCHEMES), str(filled_file)], "fill", out_dir / "bench_spark.fill.log")
        filled = json.loads(filled_file.read_text(encoding="utf-8"))
        figures = {}
        for engine in ("duckdb", "spark"):
            out = Path(home) / f"{engine}.json"
            progress = out_dir / f"bench_spark.{engine}.rules.jsonl"
            progress.with_name(progress.name + ".so_far").unlink(missing_ok=True)  # an earlier run's
            limit = _spark_limit() if engine == "spark" else None
            began = time.perf_counter()
            args = [RUN_SCRIPT, home, engine, str(out), str(progress)]
            if _run(args, engine, out_dir / f"bench_spark.{engine}.log", limit, env, progress):
                figures[engine] = json.loads(out.read_text(encoding="utf-8"))
            else:
                figures[engine] = _stopped_figures(progress, time.perf_counter() - began)
            figures[engine]["rule_keys"] = {rule["rule"]: rule["keys"] for rule in _finished_rules(progress)}
            (out_dir / f"bench_spark.{engine}.json").write_text(json.dumps(figures[engine]), encoding="utf-8")
    return _table(filled, figures)


def _table(filled: dict, figures: dict[str, dict]) -> list[dict]:
    rows = filled["rows"]
    duck, spark = figures["duckdb"], figures["spark"]
    table = [
        {
            "figure": "payments in the warehouse",
            "value": rows,
            "unit": "payments",
            "note": f"filled as bench_detect does in {filled['fill']:.0f} s",
        }
    ]
    if RULES:
        table.append(
            {
                "figure": "rules run (BENCH_SPARK_RULES: a partial pack, both engines)",
                "value": len(RULES),
                "unit": "rules",
                "note": ", ".join(RULES),
            }
        )
    for engine, found in figures.items():
        rule_seconds = sum(spent for name, spent in found["seconds"].items() if name[:1] in "TAG")
        start = found["seconds"].get("spark_start")
        if found["whole_seconds"] is not None:
            whole = {
                "figure": f"{engine}: whole pack (run_detection, alerts and rings written)",
                "value": round(found["whole_seconds"], 1),
                "unit": "s",
                "note": f"{rows / found['whole_seconds']:,.0f} payments/s; {len(found['alerts'])} alerts; "
                f"rules {rule_seconds:.0f} s"
                + (f"; Spark start with parquet export {start:.0f} s" if start is not None else ""),
            }
        else:
            whole = {
                "figure": f"{engine}: STOPPED at the limit (BENCH_SPARK_LIMIT_MINUTES / _STOP_AT), not finished",
                "value": round(found["stopped_after_seconds"], 1),
                "unit": "s",
                "note": f"{len(found['alerts_per_rule'])} rules finished in {rule_seconds:.0f} s: "
                + ", ".join(found["alerts_per_rule"]),
            }
        table += [
            whole,
            {
                "figure": f"{engine}: peak memory (Python + JVM)",
                "value": round(found["peak_bytes"]["total"] / 2**30, 2),
                "unit": "GiB",
                "note": f"sampled every 0.5 s; Python alone {found['peak_bytes']['python'] / 2**30:.2f} GiB"
                + (f", the JVM alone {found['peak_bytes']['jvm'] / 2**30:.2f} GiB" if engine == "spark" else "")
                + ("" if found["whole_seconds"] is not None else " (until it was stopped)"),
            },
            {
                "figure": f"{engine}: CPU time (user + system)",
                "value": round(found["cpu_seconds"]["python"] + found["cpu_seconds"]["jvm"], 1),
                "unit": "s",
                "note": f"Python {found['cpu_seconds']['python']:.0f} s"
                + (f", the JVM {found['cpu_seconds']['jvm']:.0f} s" if engine == "spark" else ""),
            },
        ]
    compared = [rule for rule in duck["alerts_per_rule"] if rule in spark["alerts_per_rule"]]
    differing = [rule for rule in compared if duck["alerts_per_rule"][rule] != spark["alerts_per_rule"][rule]]
    table.append(
        {
            "figure": "alerts per rule equal on both engines"
            + ("" if len(compared) == len(duck["alerts_per_rule"]) else f" ({len(compared)} rules Spark finished)"),
            "value": "NO" if differing else "yes" if compared else "none finished",
            "unit": "",
            "note": ", ".join(f"{rule} {duck['alerts_per_rule'][rule]}" for rule in compared)
            + (f"; differ: {', '.join(differing)}" if differing else ""),
        }
    )
    if spark["alerts"] is not None:
        table.append(
            {
                "figure": "same alerts on both engines (rule, subject, window)",
                "value": "yes" if duck["alerts"] == spark["alerts"] else "NO",
                "unit": "",
                "note": f"{len(duck['alerts'])} on DuckDB, {len(spark['alerts'])} on Spark",
            }
        )
    for name, spent in sorted(spark["seconds"].items(), key=lambda item: -item[1]):
        if name[:1] in "TAG":
            same = duck["rule_keys"].get(name) == spark["rule_keys"].get(name)
            table.append(
                {
                    "figure": f"rule {name}: Spark s (DuckDB s)",
                    "value": round(spent, 1),
                    "unit": "s",
                    "note": f"DuckDB {duck['seconds'].get(name, 0.0):.1f} s; alerts Spark "
                    f"{spark['alerts_per_rule'].get(name, 0)}, DuckDB {duck['alerts_per_rule'].get(name, 0)}; "
                    f"same alerts (subject, window, evidence): {'yes' if same else 'NO'}",
                }
            )
    for name, spent in duck["seconds"].items():
        if name[:1] in "TAG" and name not in spark["seconds"]:
            table.append(
                {
                    "figure": f"rule {name}: not finished on Spark (DuckDB s)",
                    "value": "—",
                    "unit": "",
                    "note": f"DuckDB {spent:.1f} s; {duck['alerts_per_rule'].get(name, 0)} alerts",
                }
            )
    return table


if __name__ == "__main__":
    for row in main(Path(__file__).resolve().parent / "out"):
        print(row)
