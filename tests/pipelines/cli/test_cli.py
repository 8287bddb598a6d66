import subprocess
import sys

from pipelines.cli import HANDLERS, build_parser

DESIGN_VERBS = [
    "ingest",
    "detect",
    "nightly",
    "schedule",
    "leads",
    "export",
    "console",
    "generate",
    "backtest",
    "train",
    "runs",
    "rebuild",
]


def test_every_design_verb_is_in_the_command():
    help_text = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for verb in DESIGN_VERBS:
        assert verb in help_text
        assert verb in HANDLERS


def test_parser_accepts_design_forms():
    parser = build_parser()
    args = parser.parse_args(["--home", "x", "export", "alerts", "--out", "a.csv", "--unmasked", "--reason", "r"])
    assert (args.home, args.what, args.unmasked) == ("x", "alerts", True)
    args = parser.parse_args(["leads", "move", "L1", "TRIAGE", "--user", "u", "--note", "n"])
    assert args.rest == ["L1", "TRIAGE"]


def test_running_out_of_duckdb_memory_is_one_clear_line_and_loses_nothing(tmp_path):
    """As an outside tool calls it, on a home that does not exist yet: a memory limit too small for the load ends
    with exit 1 and one line naming the limit and the setting to raise, no traceback; what was stored stays, the
    file that failed is not recorded, and with the default limit it then loads once."""
    import os
    from pathlib import Path

    import duckdb

    samples = Path(__file__).resolve().parents[3] / "data_samples" / "bank_files"
    first, second = samples / "C1234533000011_20250301_LARGE.csv", samples / "C2345633000022_20250301_BH.csv"
    home = tmp_path / "new-home"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FUNDFLOW_")}

    def ingest(path: Path, memory: str | None = None) -> subprocess.CompletedProcess:
        extra = {"FUNDFLOW_DUCKDB_MEMORY": memory} if memory else {}
        command = [sys.executable, "-m", "pipelines.cli", "--home", str(home), "ingest", str(path)]
        return subprocess.run(command, capture_output=True, text=True, env={**env, **extra})

    def stored() -> tuple[int, int]:
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute("SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM txn)").fetchone()
        finally:
            con.close()

    assert ingest(first).returncode == 0
    before = stored()
    assert before[0] == 1 and before[1] > 0
    done = ingest(second, memory="1MB")
    assert done.returncode == 1
    assert "FUNDFLOW_DUCKDB_MEMORY" in done.stderr and "1MB" in done.stderr
    assert "Traceback" not in done.stderr
    assert stored() == before
    assert ingest(second).returncode == 0
    after = stored()
    assert after[0] == 2 and after[1] > before[1]
