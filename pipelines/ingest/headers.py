"""Header rows of CSV and XLSX files → canonical columns, through the one alias table in `columns.py`.

A header that names no known column is ignored (and reported); two headers naming one column is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import BadFileError
from pipelines.ingest.columns import BY_NAME, canonical_name


@dataclass
class HeaderMap:
    headers: list[str]
    """Every header cell as written, in file order."""
    positions: dict[str, int] = field(default_factory=dict)
    """Canonical column → its position in `headers`."""
    ignored: list[str] = field(default_factory=list)
    """Headers that name no known column."""


def map_headers(path: Path, headers: list[str]) -> HeaderMap:
    found = HeaderMap(headers=[str(cell or "").strip() for cell in headers])
    for position, header in enumerate(found.headers):
        name = canonical_name(header) if header else None
        if name is None:
            if header:
                found.ignored.append(header)
            continue
        if name in found.positions:
            first = found.headers[found.positions[name]]
            raise BadFileError(
                path,
                f"表头重复：'{first}' 与 '{header}' 都表示 {BY_NAME[name].label_zh} / "
                f"duplicate column: '{first}' and '{header}' both mean {name}",
            )
        found.positions[name] = position
    if not found.positions:
        raise BadFileError(path, "找不到可识别的表头（第一行应为列名） / no recognisable header in the first row")
    return found
