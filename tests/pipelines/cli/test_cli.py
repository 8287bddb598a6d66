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
