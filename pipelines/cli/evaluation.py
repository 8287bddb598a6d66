"""`fundflow backtest` and `fundflow train`: the rule pack and the ranking against known cases."""

from __future__ import annotations

import json

from pipelines.cases.publish import lead_policy
from pipelines.cases.store import CaseStore
from pipelines.evaluation.backtest import backtest, format_report
from pipelines.evaluation.lead_backtest import format_lead_results, lead_results, scheme_visibility
from pipelines.evaluation.train import report, train
from pipelines.evaluation.truth import read_truth
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse


def backtest_command(args, settings: Settings) -> int:
    from pipelines.evaluation.ring_backtest import ring_results

    report = backtest(settings, args.labels)
    ring_table = lead_table = ""
    truth = read_truth(args.labels)
    if truth.by_scheme:
        con = warehouse.connect(settings, read_only=True)
        try:
            report["rings"], ring_table = ring_results(con, args.labels)
            visibility = scheme_visibility(con, truth, lead_policy(settings).opening_min_amount_cny)
        finally:
            con.close()
        store = CaseStore.open(settings)
        try:
            report["leads"] = lead_results(store, truth, visibility)
        finally:
            store.close()
        lead_table = format_lead_results(report["leads"])
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    else:
        print(format_report(report))
        if ring_table:
            print("\n" + ring_table)
        if lead_table:
            print("\n" + lead_table)
    return 0


def train_command(args, settings: Settings) -> int:
    card = train(settings, truth_path=args.labels)
    print(report(card))
    return 0
