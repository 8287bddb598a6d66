"""Run every `benchmarks/bench_*.py` (or those named) and write their figures to benchmarks/out/.

A bench module has `main(out_dir: Path) -> list[dict]`; each dict is one figure with the keys
`figure`, `value`, `unit` and optionally `note`. Each bench's table goes to out/<name>.md, and
out/results.md gathers the latest table of every bench. Usage: `python -m benchmarks.run [ingest ...]`.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"


def bench_names(requested: list[str]) -> list[str]:
    available = sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))
    unknown = [name for name in requested if name.removeprefix("bench_") not in available]
    if unknown:
        raise SystemExit(f"未知基准 / unknown benchmark: {', '.join(unknown)} (have: {', '.join(available)})")
    return [name.removeprefix("bench_") for name in requested] or available


HEADER = ["| benchmark | figure | value | unit | note |", "|---|---|---|---|---|"]


def to_markdown(rows: list[tuple[str, dict]]) -> str:
    lines = list(HEADER)
    for name, row in rows:
        value = row["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        lines.append(f"| {name} | {row['figure']} | {shown} | {row.get('unit', '')} | {row.get('note', '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    names = bench_names(sys.argv[1:] if argv is None else argv)
    OUT_DIR.mkdir(exist_ok=True)
    for name in names:
        started = time.monotonic()
        print(f"== bench {name}", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        rows = module.main(OUT_DIR)
        (OUT_DIR / f"{name}.md").write_text(to_markdown([(name, row) for row in rows]), encoding="utf-8")
        print(f"== bench {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    table = gathered(OUT_DIR, bench_names([]))
    (OUT_DIR / "results.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


def gathered(out_dir: Path, names: list[str]) -> str:
    """The latest figures of every bench that has run; a bench's other files in out/ (chain-table.md) are not figures."""
    tables = [
        path.read_text(encoding="utf-8").splitlines()[len(HEADER) :]
        for path in (out_dir / f"{name}.md" for name in names)
        if path.is_file()
    ]
    return "\n".join(HEADER + [line for lines in tables for line in lines]) + "\n"


if __name__ == "__main__":
    sys.exit(main())
