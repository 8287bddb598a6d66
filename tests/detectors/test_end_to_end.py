"""End to end on a small generated county: generate → ingest → detect → backtest. Every scheme kind is found
by at least one rule, and the pack beats the naive "≥ 30 payers in 7 days" rule on precision and recall."""

from __future__ import annotations

import pytest

from pipelines.detection.runner import run_detection
from pipelines.evaluation.backtest import backtest


@pytest.mark.slow
def test_pack_finds_every_scheme_kind_and_beats_the_naive_rule(settings, tmp_path):
    from data_samples.generator import generate_county
    from pipelines.ingest.load import ingest_paths

    county = tmp_path / "county"
    generate_county(county, persons=800, days=100, schemes=5, seed=11)
    ingest_paths(settings, [county / "reports"], progress=False)
    run_detection(settings)
    report = backtest(settings, county / "truth" / "accounts.csv")
    kinds = report["scheme_kinds"]
    assert set(kinds) == {"ponzi", "collectors", "coop", "blockchain", "cashout"}
    assert all(entry["found"] == entry["schemes"] for entry in kinds.values()), kinds
    pack, naive = report["pack"], report["naive"]
    assert pack["precision"] > naive["precision"] and pack["recall"] > naive["recall"], (pack, naive)
