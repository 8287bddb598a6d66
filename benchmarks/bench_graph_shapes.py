"""Recall and precision per shape on planted data (issue 15, item 4): the graph rules as they were (G1–G6 on the
neighbourhoods of accounts the sweep flagged) against the whole-graph rules G8–G13, on the planted worlds of
tests/detectors/planted_shapes.py (5,000 background accounts, shops, payrolls, golden shapes and near misses)
for several seeds. Recall: golden shapes whose key account an alert names; precision: alerts naming an account
of a golden shape of their kind. Seeds: BENCH_GRAPH_SHAPES_SEEDS (default "15,16,17").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from detectors import DETECTORS
from detectors.neighbourhood import flag_accounts
from pipelines.detection.runner import _run_stage, _with_settings, load_pack
from pipelines.settings import Settings
from pipelines.warehouse.db import connect_memory
from tests.detectors.planted_shapes import OLD_RULE_OF_SHAPE, RULE_OF_SHAPE, SHAPES, WINDOW, planted_world, score

SEEDS = [int(seed) for seed in os.environ.get("BENCH_GRAPH_SHAPES_SEEDS", "15,16,17").split(",")]


def figures_for(seed: int, settings: Settings) -> tuple[dict, dict]:
    world = planted_world(seed)
    con = connect_memory()
    world.insert(con)
    rules = tuple(_with_settings(rule, settings) for rule in load_pack(settings).rules)
    swept = _run_stage(con, rules, "sweep", WINDOW)
    flag_accounts(con, {account for alert in swept for account in (alert.accounts or (alert.subject,))})
    old = {rule.rule_id: [] for rule in rules}
    for alert in _run_stage(con, rules, "graph", WINDOW):
        old[alert.rule_id].append(alert)
    new = {}
    for rule in rules:
        if rule.rule_id in RULE_OF_SHAPE.values():
            new[rule.rule_id] = DETECTORS[rule.detector].detect(con, rule, WINDOW)
    con.close()
    return score(world, old, OLD_RULE_OF_SHAPE), score(world, new, RULE_OF_SHAPE)


def main(out_dir: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(home)
        totals: dict[str, dict[str, dict[str, int]]] = {"before": {}, "after": {}}
        for seed in SEEDS:
            for label, figures in zip(("before", "after"), figures_for(seed, settings)):
                for shape, figure in figures.items():
                    total = totals[label].setdefault(
                        shape, {"golden": 0, "found": 0, "alerts": 0, "right": 0, "miss": 0}
                    )
                    total["golden"] += figure["golden"]
                    total["found"] += figure["found"]
                    total["alerts"] += figure["alerts"]
                    total["right"] += round(figure["precision"] * figure["alerts"])
                    total["miss"] += figure["near_misses_hit"]
    rows = []
    for shape in SHAPES:
        for label, rule_of_shape in (("before", OLD_RULE_OF_SHAPE), ("after", RULE_OF_SHAPE)):
            total = totals[label][shape]
            recall = total["found"] / total["golden"]
            precision = total["right"] / total["alerts"] if total["alerts"] else 0.0
            rows.append(
                {
                    "figure": f"{shape} {label} ({rule_of_shape[shape]})",
                    "value": f"recall {recall:.2f} / precision {precision:.2f}",
                    "unit": "",
                    "note": f"{total['found']}/{total['golden']} golden found, {total['alerts']} alerts, "
                    f"{total['miss']} near misses hit, seeds {','.join(map(str, SEEDS))}",
                }
            )
    return rows
