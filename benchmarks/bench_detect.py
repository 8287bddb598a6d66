"""Detection over a 10,000,000-payment warehouse (issue 4, item 5): the whole pack, and each sweep rule alone.

The warehouse is filled directly in SQL with DuckDB's range() and hash() (not through ingest: this measures
detection only): a county's background of person and company payments over 90 days, in day order as report
files load, 97% of them between 07:00 and 22:00, plus planted schemes (collection hubs with elderly investors, round
amounts, investment memos, fast pass-through and cash structuring) so the rules have work to do. Each rule
runs on all its windows in the run, as the runner does. Runs in a subprocess so its peak RSS is its own.
Size: BENCH_DETECT_PAYMENTS (default 10000000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PAYMENTS = int(os.environ.get("BENCH_DETECT_PAYMENTS", "10000000"))
SCHEMES = 20
"""Planted schemes, each with 300 investors."""
TARGET_SECONDS = 60.0
TARGET_GIB = 6.0

FILL_SCRIPT = r"""
import json, resource, sys, time
from pipelines.warehouse import db as warehouse
from pipelines.settings import Settings
from pipelines.detection.runner import _run_stage, _with_settings, load_pack, run_detection
from detectors import DETECTORS
from detectors.base import Window
from datetime import date

size, schemes = int(sys.argv[2]), int(sys.argv[3])
settings = Settings.load(sys.argv[1])
settings.ensure_folders()
con = warehouse.connect(settings)
days, accounts = 90, max(size // 10, 1000)
began = time.perf_counter()
con.execute(f'''
    INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_name, payer_id_no,
        payer_kind, payer_birth, payer_region, payee_account, payee_name, payee_kind, payee_region,
        method, is_cash, channel, memo)
    SELECT 'B' || i, 'match_no',
        TIMESTAMP '2025-01-01' + to_days((i * {days} // {size})::INTEGER)
            + to_seconds((CASE WHEN hash(i, 10) % 100 < 3 THEN hash(i, 9) % 86400
                               ELSE 25200 + hash(i, 9) % 54000 END)::BIGINT),
        CASE WHEN hash(i, 2) % 10 = 0 THEN (1 + hash(i, 5) % 50) * 1000
             ELSE round(exp(2 + (hash(i, 2) % 1000) / 1000.0 * 9), 2) END::DECIMAL(18,2),
        CASE WHEN hash(i, 6) % 100 < 2 THEN NULL ELSE 'A' || (hash(i, 3) % {accounts}) END,
        'n', 'ID' || (hash(i, 3) % {accounts}),
        CASE WHEN hash(i, 3) % 20 = 0 THEN 'ORG' ELSE 'PERSON' END,
        DATE '1940-01-01' + (hash(i, 3) % 23000)::INTEGER,
        CASE WHEN hash(i, 3) % 10 < 8 THEN '330782'
             ELSE ['110101', '440106', '510104', '320102'][(1 + hash(i, 3) % 4)::BIGINT] END,
        CASE WHEN hash(i, 6) % 100 BETWEEN 2 AND 3 THEN NULL ELSE 'A' || (hash(i, 4) % {accounts}) END,
        'n', CASE WHEN hash(i, 4) % 20 = 0 THEN 'ORG' ELSE 'PERSON' END, '330782',
        CASE WHEN hash(i, 6) % 100 < 4 THEN 'CASH' WHEN hash(i, 7) % 3 = 0 THEN 'ONLINE' ELSE 'TRANSFER' END,
        hash(i, 6) % 100 < 4,
        CASE WHEN hash(i, 7) % 3 = 0 THEN 'MOBILE' END,
        CASE hash(i, 8) % 100 WHEN 0 THEN '投资款' WHEN 1 THEN '理财' WHEN 2 THEN '货款' WHEN 3 THEN '工资' END
    FROM range({size}) t(i)
''')
# planted schemes: investors (half elderly, from several provinces) pay round amounts with memos into a
# collector that forwards within two hours to a hub; the hub pays its boss and draws cash under ¥50,000
con.execute(f'''
    INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_kind, payer_birth,
        payer_region, payee_account, payee_kind, method, is_cash, memo)
    SELECT 'S' || s || '_' || k || '_' || i, 'match_no',
        TIMESTAMP '2025-02-01' + to_hours((i % 25) * 24 + 9 + k * 2),
        CASE k WHEN 0 THEN (1 + i % 5) * 10000 ELSE (1 + i % 5) * 10000 END::DECIMAL(18,2),
        CASE k WHEN 0 THEN 'INV' || s || '_' || i ELSE 'COL' || s || '_' || (i % 3) END,
        'PERSON', CASE WHEN k = 0 AND i % 2 = 0 THEN DATE '1950-05-05' ELSE DATE '1980-05-05' END,
        ['330782', '110101', '440106', '510104'][1 + i % 4],
        CASE k WHEN 0 THEN 'COL' || s || '_' || (i % 3) ELSE 'HUB' || s END, 'PERSON', 'ONLINE', false,
        CASE WHEN k = 0 AND i % 4 = 0 THEN '复投' END
    FROM range({schemes}) a(s), range(300) b(i), range(2) c(k)
''')
con.execute(f'''
    INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_kind, payee_account,
        payee_kind, method, is_cash)
    SELECT 'D' || s || '_' || j, 'match_no', TIMESTAMP '2025-02-27 10:00:00' + to_hours(j * 20),
        CASE WHEN j = 0 THEN 4000000 ELSE 48000 + j END::DECIMAL(18,2),
        'HUB' || s, 'PERSON', CASE WHEN j = 0 THEN 'BOSS' || s END, CASE WHEN j = 0 THEN 'PERSON' END,
        CASE WHEN j = 0 THEN 'TRANSFER' ELSE 'CASH' END, j > 0
    FROM range({schemes}) a(s), range(4) b(j)
''')
con.execute('CHECKPOINT')
fill = time.perf_counter() - began
rows = con.execute('SELECT count(*) FROM payments').fetchone()[0]
"""
"""The warehouse filled in SQL (argv: home, payments, schemes); benchmarks/bench_spark.py fills it the same way."""

SCRIPT = (
    FILL_SCRIPT
    + r"""
as_of = con.execute('SELECT CAST(max(txn_time) AS DATE) FROM payments').fetchone()[0]
window = Window(as_of=as_of, days=90)
rules = tuple(_with_settings(rule, settings) for rule in load_pack(settings).rules)
per_rule = {}
for rule in rules:
    module = DETECTORS[rule.detector]
    if module.STAGE != 'sweep' or not rule.rule_id.startswith('T') or rule.rule_id in ('T3', 'T9'):
        continue
    started = time.perf_counter()
    alerts = _run_stage(con, (rule,), 'sweep', window)
    per_rule[rule.rule_id] = {'seconds': time.perf_counter() - started, 'alerts': len(alerts)}
    print(rule.rule_id, per_rule[rule.rule_id], file=sys.stderr, flush=True)
started = time.perf_counter()
result = run_detection(settings, con=con)
whole = time.perf_counter() - started
stages = json.loads(con.execute('SELECT summary FROM runs WHERE run_id = ?', [result.run_id]).fetchone()[0])['seconds']
con.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with open(sys.argv[4], 'w') as figures:
    json.dump({'rows': rows, 'fill_seconds': fill, 'per_rule': per_rule, 'whole_seconds': whole, 'stages': stages,
               'whole_alerts': len(result.alerts), 'peak_bytes': peak}, figures)
"""
)


def main(out_dir: Path) -> list[dict]:
    with tempfile.TemporaryDirectory(dir=out_dir) as home:
        figures_file = Path(home) / "figures.json"
        finished = subprocess.run(
            [sys.executable, "-c", SCRIPT, home, str(PAYMENTS), str(SCHEMES), str(figures_file)],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"bench_detect failed:\n{finished.stderr[-3000:]}")
        figures = json.loads(figures_file.read_text(encoding="utf-8"))
    rows = figures["rows"]
    sweep_seconds = sum(rule["seconds"] for rule in figures["per_rule"].values())
    gib = figures["peak_bytes"] / 2**30
    table = [
        {
            "figure": "payments in the warehouse",
            "value": rows,
            "unit": "payments",
            "note": f"filled in SQL with range()/hash() in {figures['fill_seconds']:.0f} s, {SCHEMES} planted schemes",
        },
        {
            "figure": "whole pack (every rule, graph stage and rings, alerts written)",
            "value": round(figures["whole_seconds"], 1),
            "unit": "s",
            "note": f"{rows / figures['whole_seconds']:,.0f} payments/s; {figures['whole_alerts']} alerts; "
            f"target < {TARGET_SECONDS:.0f} s",
        },
        {
            "figure": "SQL sweep rules T1–T14 (sum of the rules alone)",
            "value": round(sweep_seconds, 1),
            "unit": "s",
            "note": f"{rows / sweep_seconds:,.0f} payments/s",
        },
        {"figure": "peak memory", "value": round(gib, 2), "unit": "GiB", "note": f"target < {TARGET_GIB:.0f} GiB"},
    ]
    others = {name: spent for name, spent in figures["stages"].items() if name not in figures["per_rule"]}
    table.append(
        {
            "figure": "whole pack: rules other than T1–T14, and rings",
            "value": round(sum(others.values()), 1),
            "unit": "s",
            "note": ", ".join(
                f"{name} {spent:.1f} s" for name, spent in sorted(others.items(), key=lambda item: -item[1])
            ),
        }
    )
    for rule_id, rule in sorted(figures["per_rule"].items(), key=lambda item: int(item[0][1:])):
        table.append(
            {
                "figure": f"rule {rule_id}",
                "value": round(rule["seconds"], 2),
                "unit": "s",
                "note": f"{rows / rule['seconds']:,.0f} payments/s; {rule['alerts']} alerts",
            }
        )
    return table


if __name__ == "__main__":
    for row in main(Path(__file__).resolve().parent / "out"):
        print(row)
