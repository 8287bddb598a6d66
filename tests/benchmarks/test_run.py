"""`make bench` gathers every bench's figures into out/results.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.run import HEADER, gathered, to_markdown


def test_results_hold_the_benches_figures_and_not_their_other_tables(tmp_path: Path) -> None:
    (tmp_path / "ingest.md").write_text(to_markdown([("ingest", {"figure": "rows/s", "value": 1.5})]))
    (tmp_path / "chain.md").write_text(to_markdown([("chain", {"figure": "night 1 total", "value": 322.8})]))
    # bench_chain also writes its night-by-night table; it has other columns and is not a bench's figures.
    (tmp_path / "chain-table.md").write_text("| step | night 1 |\n|---|---|\n| ingest | 110.9 s |\n")

    table = gathered(tmp_path, ["chain", "graph", "ingest"]).splitlines()

    assert table == HEADER + ["| chain | night 1 total | 322.80 |  |  |", "| ingest | rows/s | 1.50 |  |  |"]
