"""Whole-graph shape rules G8–G13 (issue 15, item 2): their candidate stage on a warehouse of 10,000,000 payments,
against one DuckDB GROUP BY scan of the same table in the same process.

The table is synthesised in DuckDB (random payments among 1,000,000 accounts over 90 days, log-uniform amounts),
with the planted shapes of the tests added, so the figures also say whether every golden shape is still found
at scale. Then the history figure: the same rules over 30 and 90 days at the same payments per day, whose time
ratio should be about 3 (linear in the days). Each size runs in its own subprocess so its peak RSS is its own.
Sizes: BENCH_WHOLE_GRAPH_SIZE (default 10000000), BENCH_WHOLE_GRAPH_HISTORY (payments per day, default 20000;
0 skips the history figure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SIZE = int(os.environ.get("BENCH_WHOLE_GRAPH_SIZE", "10000000"))
HISTORY_PER_DAY = int(os.environ.get("BENCH_WHOLE_GRAPH_HISTORY", "20000"))
PAYMENTS_PER_ACCOUNT = 10
"""Payments paid per background account over the run (each also receives about as many)."""

SCRIPT = r"""
import json, resource, sys, time
from datetime import timedelta
from pipelines.warehouse.db import connect_memory
from detectors import DETECTORS, whole_graph
from detectors.base import Window
from detectors.neighbourhood import fill_table
from detectors.pack import load_rule_pack
from tests.detectors.planted_shapes import AS_OF, RULE_OF_SHAPE, World, planted_world, score

size, days, per_account, rules_dir = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
window = Window(as_of=AS_OF, days=days)
accounts = max(size // per_account, 1000)
con = connect_memory()
began = time.perf_counter()
con.execute(f'''
    INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payee_account,
        payer_kind, payee_kind, method, is_cash)
    SELECT 'B' || i, 'match_no', $start + to_seconds((hash(i, 1) % ({days} * 86400))::BIGINT),
        round(pow(10, 1.7 + 3.0 * ((hash(i, 2) % 1000003) / 1000003.0)), 2),
        'A' || (hash(i, 3) % {accounts}), 'A' || ((hash(i, 3) % {accounts} + 1 + hash(i, 4) % ({accounts} - 1)) % {accounts}),
        'PERSON', 'PERSON', 'TRANSFER', false
    FROM range({size}) t(i)
''', {'start': window.start})
planted = None
if days == 90:
    planted = planted_world()
    fill_table(con, 'payments', planted.columns)  # the shapes only; the background is the random table above
figures = {'payments': con.execute('SELECT count(*) FROM payments').fetchone()[0], 'days': days,
           'build_seconds': time.perf_counter() - began}
t = time.perf_counter()
con.execute('SELECT payer_account, count(*), sum(amount_cny) FROM payments GROUP BY payer_account').fetchall()
figures['group_by_seconds'] = time.perf_counter() - t
pack = load_rule_pack(rules_dir)
alerts, per_rule = {}, {}
total = time.perf_counter()
with whole_graph.shared_edges(con):  # as the runner runs the stage: a span's tables built once
    for rule_id in RULE_OF_SHAPE.values():
        rule = pack.rule(rule_id)
        t = time.perf_counter()
        alerts[rule_id] = DETECTORS[rule.detector].detect(con, rule, window)
        per_rule[rule_id] = {'seconds': time.perf_counter() - t, 'alerts': len(alerts[rule_id])}
figures['rules_seconds'] = time.perf_counter() - total
figures['per_rule'] = per_rule
if planted is not None:
    figures['shapes'] = {shape: {k: v for k, v in f.items() if k in ('golden', 'found', 'near_misses_hit')}
                         for shape, f in score(planted, alerts, RULE_OF_SHAPE).items()}
figures['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(figures))
"""


def _run(size: int, days: int) -> dict:
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(size), str(days), str(PAYMENTS_PER_ACCOUNT), str(root / "rules")],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(out_dir: Path) -> list[dict]:
    big = _run(SIZE, 90)
    rows = [
        {"figure": "payments", "value": big["payments"], "unit": "payments", "note": "90 days, planted shapes added"},
        {"figure": "GROUP BY payer scan", "value": round(big["group_by_seconds"], 2), "unit": "s"},
        {"figure": "G8–G13 candidate stage + checks", "value": round(big["rules_seconds"], 2), "unit": "s"},
        {
            "figure": "ratio to the GROUP BY scan",
            "value": round(big["rules_seconds"] / big["group_by_seconds"], 1),
            "unit": "×",
        },
        {"figure": "peak RSS", "value": round(big["peak_rss_mb"]), "unit": "MB", "note": "the whole subprocess"},
    ]
    for rule_id, figure in big["per_rule"].items():
        rows.append(
            {
                "figure": f"{rule_id} seconds",
                "value": round(figure["seconds"], 2),
                "unit": "s",
                "note": f"{figure['alerts']} alerts",
            }
        )
    for shape, figure in big["shapes"].items():
        rows.append(
            {
                "figure": f"{shape}: golden found",
                "value": f"{figure['found']} / {figure['golden']}",
                "unit": "shapes",
                "note": f"near misses hit: {figure['near_misses_hit']}",
            }
        )
    if HISTORY_PER_DAY:
        short, long = _run(HISTORY_PER_DAY * 30, 30), _run(HISTORY_PER_DAY * 90, 90)
        rows.append(
            {
                "figure": "history: 90 days / 30 days time",
                "value": round(long["rules_seconds"] / short["rules_seconds"], 2),
                "unit": "×",
                "note": f"{HISTORY_PER_DAY:,} payments a day; {short['rules_seconds']:.1f} s and "
                f"{long['rules_seconds']:.1f} s (linear: 3)",
            }
        )
    (out_dir / "whole_graph.json").write_text(json.dumps(big, indent=2), encoding="utf-8")
    return rows
