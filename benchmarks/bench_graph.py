"""Graph detection time against warehouse size (issue 5, item 4): the same planted schemes and the same flagged
accounts in two warehouses of 1,000,000 and 10,000,000 payments, built quickly in SQL.

Reported separately: the SQL sweep over the whole warehouse, the neighbourhood load (SQL into networkx), each
graph rule, and the rings. The graph figures should stay about level while the warehouse grows tenfold,
because networkx only sees the flagged neighbourhoods. Sizes: BENCH_GRAPH_SIZES (default "1000000,10000000").
Each size runs in its own subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = [int(size) for size in os.environ.get("BENCH_GRAPH_SIZES", "1000000,10000000").split(",")]
SCHEMES = 20
"""Planted schemes, the same in every size: each a hub paying monthly interest, 3 collectors, 200 investors,
3 promoters, 1 controller."""
RANDOM_FLAGGED = 200
"""Background accounts flagged as well, the same number in every size (the sweep's false positives)."""
PAYMENTS_PER_ACCOUNT = 20
"""Background accounts scale with the warehouse so each keeps about this many payments (a county grows by
people, not by each person paying more)."""

SCRIPT = r"""
import json, resource, sys, time
from datetime import date, datetime, timedelta
import pyarrow as pa
from pipelines.warehouse import db as warehouse
from pipelines.settings import Settings
from pipelines.detection.runner import _run_stage, _with_settings, load_pack
from detectors import DETECTORS, neighbourhood
from detectors.base import Window
from detectors.rings import build_rings

size, schemes, random_flagged, per_account = (int(x) for x in sys.argv[2:6])
settings = Settings.load(sys.argv[1])
settings.ensure_folders()
con = warehouse.connect(settings)
start, days = datetime(2025, 1, 1), 90
accounts = max(size * 2 // per_account, 1000)
began = time.perf_counter()
con.execute(f'''
    INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_name, payer_id_no,
        payer_kind, payer_birth, payer_region, payee_account, payee_name, payee_id_no, payee_kind, payee_birth,
        payee_region, method, is_cash)
    SELECT 'B' || i, 'match_no', TIMESTAMP '2025-01-01' + to_seconds((hash(i, 1) % ({days} * 86400))::BIGINT),
        (100 + hash(i, 2) % 30000)::DECIMAL(18,2),
        'A' || (hash(i, 3) % {accounts}), 'n', 'ID' || (hash(i, 3) % {accounts}), 'PERSON',
        DATE '1950-01-01' + (hash(i, 3) % 20000)::INTEGER, '330782',
        'A' || (hash(i, 4) % {accounts}), 'n', 'ID' || (hash(i, 4) % {accounts}),
        CASE WHEN hash(i, 4) % 50 = 0 THEN 'ORG' ELSE 'PERSON' END, NULL, '330782', 'TRANSFER', false
    FROM range({size}) t(i)
''')
rows, flagged = [], []
def pay(payer, payee, amount, when, payer_kind='PERSON', payee_kind='PERSON'):
    rows.append((f'S{len(rows)}', when, amount, payer, payer_kind, payee, payee_kind))
for s in range(schemes):
    hub, collectors = f'HUB{s}', [f'COL{s}_{c}' for c in range(3)]
    flagged += [hub] + collectors
    for i in range(200):
        when = start + timedelta(days=i % 5, hours=i % 9)
        if i % 2:
            pay(f'INV{s}_{i}', collectors[i % 3], 50000.0, when)
            pay(collectors[i % 3], hub, 49500.0, when + timedelta(hours=2), payee_kind='ORG')
        else:
            pay(f'INV{s}_{i}', hub, 50000.0, when, payee_kind='ORG')
        for k in range(3):
            pay(hub, f'INV{s}_{i}', 1000.0, when + timedelta(days=20 + 30.4 * k), payer_kind='ORG')
    for p in range(3):
        for k in range(4):
            pay(hub, f'PROMO{s}_{p}', 9000.0, start + timedelta(days=25 + 7 * k), payer_kind='ORG')
    pay(hub, f'CTRL{s}', 6000000.0, start + timedelta(days=40), payer_kind='ORG')
table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(
    ['payment_id', 'txn_time', 'amount_cny', 'payer_account', 'payer_kind', 'payee_account', 'payee_kind'])})
con.register('planted', table)
con.execute('''INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_kind,
    payee_account, payee_kind, method, is_cash)
    SELECT payment_id, 'match_no', txn_time, amount_cny, payer_account, payer_kind, payee_account, payee_kind,
           'TRANSFER', false FROM planted''')
flagged += [f'A{(i * 7919) % accounts}' for i in range(random_flagged)]
built = time.perf_counter() - began
window = Window(as_of=date(2025, 3, 31), days=days)
rules = tuple(_with_settings(rule, settings) for rule in load_pack(settings).rules)
figures = {'payments': size + len(rows), 'build_seconds': built}
t = time.perf_counter()
alerts = _run_stage(con, rules, 'sweep', window)
figures['sweep_seconds'] = time.perf_counter() - t
neighbourhood.flag_accounts(con, flagged)
t = time.perf_counter()
nb = neighbourhood.load(con, window)
figures['neighbourhood_seconds'] = time.perf_counter() - t
figures['graph_nodes'], figures['graph_edges'] = nb.graph.number_of_nodes(), nb.graph.number_of_edges()
figures['flagged'] = len(flagged)
per_rule = {}
t = time.perf_counter()
for rule in rules:
    if DETECTORS[rule.detector].STAGE != 'graph':
        continue
    r = time.perf_counter()
    found = _run_stage(con, (rule,), 'graph', window)
    per_rule[rule.rule_id] = {'seconds': time.perf_counter() - r, 'alerts': len(found)}
    alerts += found
figures['graph_rules_seconds'] = time.perf_counter() - t
figures['per_rule'] = per_rule
rows_in = [{'alert_id': str(i), 'rule_id': a.rule_id, 'typology': a.typology, 'subject_kind': a.subject_kind,
            'subject': a.subject, 'accounts': a.accounts, 'score': a.strength} for i, a in enumerate(alerts)]
t = time.perf_counter()
rings, members = build_rings(con, 'bench', rows_in, window)
figures['rings_seconds'] = time.perf_counter() - t
figures['rings'] = len(rings)
figures['rings_with_planted_hub'] = sum(r['hub_account'].startswith('HUB') for r in rings)
figures['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(figures))
"""


def run_size(size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_graph_") as home:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                SCRIPT,
                home,
                str(size),
                str(SCHEMES),
                str(RANDOM_FLAGGED),
                str(PAYMENTS_PER_ACCOUNT),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    if done.returncode:
        raise RuntimeError(f"bench_graph at {size:,} payments failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(out_dir: Path) -> list[dict]:
    figures = []
    for size in SIZES:
        measured = run_size(size)
        label = f"{measured['payments']:,} payments"
        graph_seconds = measured["neighbourhood_seconds"] + measured["graph_rules_seconds"] + measured["rings_seconds"]
        figures += [
            {
                "figure": f"SQL sweep ({label})",
                "value": round(measured["sweep_seconds"], 2),
                "unit": "s",
                "note": "whole warehouse, every sweep rule",
            },
            {
                "figure": f"graph total ({label})",
                "value": round(graph_seconds, 2),
                "unit": "s",
                "note": f"{measured['flagged']} flagged accounts; {measured['graph_nodes']:,} nodes, "
                f"{measured['graph_edges']:,} edges in networkx",
            },
            {
                "figure": f"  neighbourhood load ({label})",
                "value": round(measured["neighbourhood_seconds"], 2),
                "unit": "s",
                "note": "SQL selection of the flagged neighbourhood into a MultiDiGraph",
            },
            {
                "figure": f"  graph rules ({label})",
                "value": round(measured["graph_rules_seconds"], 2),
                "unit": "s",
                "note": ", ".join(
                    f"{rule} {v['seconds']:.2f}s/{v['alerts']}" for rule, v in measured["per_rule"].items()
                ),
            },
            {
                "figure": f"  rings ({label})",
                "value": round(measured["rings_seconds"], 2),
                "unit": "s",
                "note": f"{measured['rings']} rings, {measured['rings_with_planted_hub']} with a planted hub "
                f"(of {SCHEMES})",
            },
            {
                "figure": f"peak memory ({label})",
                "value": round(measured["peak_rss_mb"]),
                "unit": "MB",
                "note": f"warehouse built in SQL in {measured['build_seconds']:.0f}s",
            },
        ]
    (out_dir / "graph.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    return figures


if __name__ == "__main__":
    for row in main(Path(tempfile.mkdtemp())):
        print(row)
