"""`fundflow backtest`: precision and recall per rule against labels, scheme kinds found, the naive baseline."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from pipelines.cli import main
from pipelines.detection.runner import run_detection
from pipelines.errors import BadFileError
from pipelines.evaluation.backtest import backtest
from pipelines.evaluation.truth import read_truth
from tests.builders import add_payments, day, pay


def county(warehouse) -> None:
    """A collection hub (scheme S1: hub + collector) and a busy shop with 40 customers a week."""
    rows = [pay(f"INV{i}", "HUB", 25_000, day(60 + i % 25)) for i in range(40)]
    rows.append(pay("HUB", "BOSS", 900_000, day(86)))
    rows += [pay(f"SHOPPER{i}", "ORG_SHOP", 88.5, day(80 + i % 5)) for i in range(40)]
    add_payments(warehouse, rows)


def write_truth(folder) -> None:
    (folder / "accounts.csv").write_text(
        "account_no,scheme_id,typology,role\nHUB,S1,fan_in,hub\nCOLL9,S1,pass_through,collector\n"
        "BOSS,S1,cash_out,controller\nINV1,S1,fan_in,investor\n",
        encoding="utf-8",
    )
    (folder / "schemes.csv").write_text("scheme_id,kind\nS1,ponzi\n", encoding="utf-8")


def test_generator_truth_and_plain_labels_are_read(tmp_path):
    write_truth(tmp_path)
    labels = read_truth(tmp_path / "accounts.csv")
    assert labels.positives == {"HUB", "COLL9", "BOSS"}
    assert labels.scheme_core == {"S1": {"HUB", "COLL9"}} and labels.scheme_kind == {"S1": "ponzi"}
    plain = tmp_path / "plain.csv"
    plain.write_text("account_no,label,typology\nA,1,fan_in\nB,0,\n", encoding="utf-8")
    assert read_truth(plain).positives == {"A"}
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what\n1,2\n", encoding="utf-8")
    with pytest.raises(BadFileError, match="account_no"):
        read_truth(bad)


def test_backtest_scores_rules_schemes_and_the_naive_rule(settings, warehouse, tmp_path):
    county(warehouse)
    run_detection(settings, con=warehouse)
    write_truth(tmp_path)
    report = backtest(settings, tmp_path / "accounts.csv", con=warehouse)
    t1 = report["rules"]["T1"]
    assert (t1["alerts"], t1["accounts"], t1["true_positives"], t1["precision"]) == (1, 1, 1, 1.0)
    assert t1["recall"] == pytest.approx(1 / 3, abs=0.001) and t1["schemes_found"] == ["S1"]
    assert report["scheme_kinds"]["ponzi"]["found"] == 1 and "T1" in report["scheme_kinds"]["ponzi"]["rules"]
    # the shop has 40 payers in 5 days; the hub's 40 investors are spread over 25 days
    assert (report["naive"]["accounts"], report["naive"]["precision"], report["naive"]["recall"]) == (1, 0.0, 0.0)
    assert report["alerts"] == warehouse.execute("SELECT count(*) FROM alerts").fetchone()[0]


def test_backtest_command_prints_a_table_or_json(settings, warehouse, tmp_path, capsys):
    county(warehouse)
    run_detection(settings, con=warehouse)
    warehouse.close()
    write_truth(tmp_path)
    assert main(["--home", str(settings.home), "backtest", "--labels", str(tmp_path / "accounts.csv")]) == 0
    assert "朴素规则" in capsys.readouterr().out
    assert main(["--home", str(settings.home), "backtest", "--json", "--labels", str(tmp_path / "accounts.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["rules"]["T1"]["true_positives"] == 1


def test_detect_command_prints_the_summary_and_run_id(settings, warehouse, capsys):
    county(warehouse)
    warehouse.close()
    assert main(["--home", str(settings.home), "detect", "--window-days", "60"]) == 0
    out = capsys.readouterr().out
    assert "分散转入集中转出" in out and "运行编号 / run id: detect-" in out
    assert main(["--home", str(settings.home), "detect", "--as-of", "2025-13-01"]) == 1


def test_ring_results_are_added_only_for_generator_truth(tmp_path):
    truth = tmp_path / "accounts.csv"
    truth.write_text("account_no,scheme_id,typology,role\nA1,S01,fan_in,hub\n", encoding="utf-8")
    plain = tmp_path / "labels.csv"
    plain.write_text("account_no,label,typology\nA1,1,fan_in\n", encoding="utf-8")
    assert read_truth(truth).by_scheme and not read_truth(plain).by_scheme


def test_dropping_a_rule_from_the_pack_drops_recall_on_its_typology(settings, warehouse, tmp_path):
    """The backtest reads whatever pack detection ran: a pack without T4 no longer finds the round amounts."""
    county(warehouse)
    write_truth(tmp_path)
    run_detection(settings, con=warehouse)
    whole = backtest(settings, tmp_path / "accounts.csv", con=warehouse)
    assert whole["typologies"]["round_amounts"]["recall"] == pytest.approx(1 / 3, abs=0.001)
    smaller = tmp_path / "rules"
    shutil.copytree(settings.rules_dir, smaller)
    (smaller / "t4_round_amounts.yaml").unlink()
    run_detection(dataclasses.replace(settings, rules_dir=smaller), con=warehouse)
    without = backtest(settings, tmp_path / "accounts.csv", con=warehouse)
    assert "T4" in whole["rules"] and "T4" not in without["rules"]
    assert without["typologies"].get("round_amounts", {"recall": 0.0})["recall"] == 0.0
    assert without["typologies"]["fan_in"] == whole["typologies"]["fan_in"]  # the other rules still find the rest
