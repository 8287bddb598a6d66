"""BH/BS XML reports in the monitoring centre's four-letter element codes, parsed without entities.

A transaction record is any element with a direct `TICD` child. Each field is the text of the nearest
element of that code that is a direct child of the record or of one of its ancestors (or of a block of
plain fields beside them, such as the RBIF header), so customer and header blocks apply to every record
beneath them. Repeated `ROTF` remarks are joined with "；".
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import duckdb
import polars as pl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from pipelines.errors import BadFileError
from pipelines.ingest.columns import COLUMNS
from pipelines.ingest.staged import Staged, register_frame, visible

RECORD_CODE = "TICD"
MEMO_CODE = "ROTF"
MEMO_JOIN = "；"
FIELD_CODES = {column.name: column.codes for column in COLUMNS if column.codes and column.name != "memo"}
MAX_DEPTH = 64
MAX_BYTES = 512 << 20
DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def root_kind(tag: str) -> str | None:
    if tag == "PHTR" or tag.startswith("BH"):
        return "LARGE"
    if tag == "PSTR" or tag.startswith("BS"):
        return "SUSPICIOUS"
    return None


def _tag(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1].upper() if isinstance(element.tag, str) else ""


def _memo(record: Element) -> str | None:
    remarks = []
    for child in record:
        if _tag(child) == MEMO_CODE:
            remarks.append(child)
        elif _tag(child) == MEMO_CODE + "S":
            remarks.extend(grand for grand in child if _tag(grand) == MEMO_CODE)
    texts = [(remark.text or "").strip() for remark in remarks]
    return MEMO_JOIN.join(text for text in texts if text) or None


def _depth(root: Element) -> int:
    """Nesting depth, counted without recursion (a crafted file nests thousands deep)."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in element)
    return deepest


def parse(path: Path) -> Element:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise BadFileError(
            path, f"XML 文件 {size / 1e6:,.0f} MB，超过上限 {MAX_BYTES / 1e6:,.0f} MB / XML over the size limit"
        )
    root = _parse(path, path.read_bytes())
    if _depth(root) > MAX_DEPTH:
        raise BadFileError(path, f"XML 嵌套超过 {MAX_DEPTH} 层 / XML nested deeper than {MAX_DEPTH} levels")
    return root


def _parse(path: Path, data: bytes) -> Element:
    declared = DECLARED_ENCODING.match(data)
    encoding = declared.group(1).decode().lower().replace("_", "-") if declared else "utf-8"
    try:
        if encoding not in ("utf-8", "utf8", "us-ascii", "ascii"):
            # expat knows few multi-byte encodings (GBK, GB18030): decode in Python and parse the text
            text = data.decode(encoding)
            return fromstring(text[text.index("?>") + 2 :])
        return fromstring(data)
    except DefusedXmlException:
        raise BadFileError(
            path, "XML 含有实体声明或外部引用，已拒绝 / XML declares entities or external references: refused"
        ) from None
    except ParseError as exc:
        raise BadFileError(path, f"XML 格式错误 / malformed XML: {exc}") from None
    except (LookupError, UnicodeDecodeError):
        raise BadFileError(path, f"XML 编码无法识别 / unreadable XML encoding: {encoding}") from None
    except (ValueError, RecursionError) as exc:
        raise BadFileError(path, f"XML 格式错误 / malformed XML: {type(exc).__name__}") from None


def records(root: Element) -> list[dict[str, str]]:
    """Every transaction record, in document order, with the fields it sees."""
    found: list[dict[str, str]] = []

    def leaves(element: Element) -> dict[str, str]:
        return {
            _tag(child): visible(child.text.strip()) for child in element if len(child) == 0 and child.text is not None
        }

    def walk(element: Element, inherited: dict[str, str]) -> None:
        visible = dict(inherited)
        # A block of plain fields beside the records (a header such as RBIF) describes them all.
        for child in element:
            if len(child) and all(len(grand) == 0 for grand in child) and child.find(RECORD_CODE) is None:
                visible.update(leaves(child))
        visible.update(leaves(element))
        if any(_tag(child) == RECORD_CODE for child in element):
            record = dict(visible)
            memo = _memo(element)
            if memo is not None:
                record[MEMO_CODE] = memo
            found.append(record)
        for child in element:
            if len(child):
                walk(child, visible)

    walk(root, {})
    return found


def stage_xml(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    root = parse(path)
    rows = records(root)
    if not rows:
        raise BadFileError(
            path, "XML 中没有交易记录（没有含 TICD 的元素） / no transaction records (no element with a TICD child)"
        )
    fields = {name: codes for name, codes in FIELD_CODES.items() if any(code in row for row in rows for code in codes)}
    if any(MEMO_CODE in row for row in rows):
        fields["memo"] = (MEMO_CODE,)
    headers = ["/".join(codes) for codes in fields.values()]
    data: dict[str, list[object]] = {
        f"c{position}": [next((row[code] for code in codes if code in row), None) for row in rows]
        for position, codes in enumerate(fields.values())
    }
    data["row_no"] = list(range(1, len(rows) + 1))
    frame = pl.DataFrame(
        data, schema={**{f"c{position}": pl.Utf8 for position in range(len(headers))}, "row_no": pl.Int64}
    )
    positions = {name: position for position, name in enumerate(fields)}
    return register_frame(con, frame, headers, positions, "xml", encoding="xml", report_kind=root_kind(_tag(root)))
