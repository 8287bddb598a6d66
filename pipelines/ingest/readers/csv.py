"""CSV files: detect the encoding, map the header, and let DuckDB's own reader stream the rows.

UTF-8 (with or without BOM) is read in place. GB18030/GBK is transcoded by Python, in chunks, to a UTF-8
temp file under the home folder, then read the same way. Lines DuckDB cannot split are kept as rejects.
"""

from __future__ import annotations

import codecs
import csv
import io
import time
from pathlib import Path

import duckdb

from pipelines.errors import BadFileError
from pipelines.ingest.headers import map_headers
from pipelines.ingest.staged import RejectedLine, Staged
from pipelines.settings import Settings

BOM = codecs.BOM_UTF8
SNIFF_BYTES = 1 << 16
CHUNK_CHARS = 1 << 22
DELIMITERS = (",", "\t", ";", "|")
NOT_TEXT = "不是文本文件 / not a text file"
REJECT_LABELS = {
    "TOO MANY COLUMNS": "字段数多于表头 / more fields than the header",
    "MISSING COLUMNS": "字段数少于表头 / fewer fields than the header",
    "UNQUOTED VALUE": "引号不成对 / unbalanced quotes",
    "LINE SIZE OVER MAXIMUM": "行过长 / line too long",
}


def sniff_encoding(path: Path) -> str:
    """'utf-8-sig', 'utf-8' or 'gb18030', judged from the first 64 KiB (DuckDB checks the rest)."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.replace(BOM, b"").strip():
        raise BadFileError(path, "文件为空 / empty file")
    if b"\x00" in head:
        raise BadFileError(path, NOT_TEXT)
    if head.startswith(BOM):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        try:
            # final=False: the 64 KiB cut may fall inside a multi-byte character
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    raise BadFileError(path, NOT_TEXT)


def rewrite_utf8(path: Path, settings: Settings, encoding: str) -> Path:
    """Stream a text file into a UTF-8 temp file with `\n` line ends (DuckDB's strict reader wants one
    kind); any undecodable byte means it is not text."""
    settings.tmp.mkdir(parents=True, exist_ok=True)
    target = settings.tmp / f"rewritten-{time.time_ns()}.csv"
    try:
        with (
            open(path, "rb") as raw,
            io.TextIOWrapper(raw, encoding=encoding, newline=None) as source,
            open(target, "w", encoding="utf-8", newline="\n") as out,
        ):
            while chunk := source.read(CHUNK_CHARS):
                if "\x00" in chunk:
                    raise BadFileError(path, NOT_TEXT)
                out.write(chunk)
    except UnicodeDecodeError:
        target.unlink(missing_ok=True)
        raise BadFileError(path, NOT_TEXT) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def read_header(path: Path, text_path: Path) -> tuple[list[str], str]:
    with open(text_path, encoding="utf-8-sig", newline="") as handle:
        line = handle.readline()
    if not line.strip():
        raise BadFileError(path, "找不到可识别的表头（第一行为空） / no recognisable header: the first line is blank")
    delimiter = max(DELIMITERS, key=line.count)
    return next(csv.reader([line], delimiter=delimiter)), delimiter


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_into_raw(con: duckdb.DuckDBPyConnection, text_path: Path, delimiter: str, width: int) -> None:
    columns = ", ".join(f"'c{position}': 'VARCHAR'" for position in range(width))
    for table in ("ingest_raw", "ingest_rejects", "ingest_reject_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"""
        CREATE TEMP TABLE ingest_raw AS SELECT * FROM read_csv({_sql_text(str(text_path))},
            header = true, delim = {_sql_text(delimiter)}, quote = '"', escape = '"', auto_detect = false,
            columns = {{{columns}}}, store_rejects = true,
            rejects_table = 'ingest_rejects', rejects_scan = 'ingest_reject_scans')""")


def stage_csv(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, progress=None) -> Staged:
    encoding = sniff_encoding(path)
    text_path = rewrite_utf8(path, settings, encoding) if encoding == "gb18030" else path
    try:
        header, delimiter = read_header(path, text_path)
        mapped = map_headers(path, header)
        if progress:
            progress(f"读取 / reading {path.name} ({path.stat().st_size / 1e6:,.0f} MB)")
        try:
            _read_into_raw(con, text_path, delimiter, len(header))
        except duckdb.InvalidInputException:
            if text_path != path:
                raise
            # Mixed line ends confuse the strict reader: read a normalised copy instead.
            text_path = rewrite_utf8(path, settings, encoding)
            _read_into_raw(con, text_path, delimiter, len(header))
        bad_encoding = con.execute(
            "SELECT count(*) FROM ingest_rejects WHERE error_type = 'INVALID ENCODING'"
        ).fetchone()[0]
        if bad_encoding and encoding != "gb18030":
            # Valid UTF-8 at the start, not further on: a GB18030 file whose first 64 KiB were ASCII.
            encoding = "gb18030"
            if text_path != path:
                text_path.unlink(missing_ok=True)
            text_path = rewrite_utf8(path, settings, encoding)
            _read_into_raw(con, text_path, delimiter, len(header))
        elif bad_encoding:
            raise BadFileError(path, NOT_TEXT)
    finally:
        if text_path != path:
            text_path.unlink(missing_ok=True)
    rejected = [
        RejectedLine(int(line), REJECT_LABELS.get(str(kind), str(kind)), raw or "")
        for line, kind, raw in con.execute("""
                    SELECT line, first(error_type ORDER BY column_idx), first(csv_line ORDER BY column_idx)
                    FROM ingest_rejects GROUP BY line ORDER BY line""").fetchall()
    ]
    row_no_sql = "src.rowid + 2"
    if rejected:
        # Rejected lines take record numbers too: shift the accepted rows after each of them.
        con.execute("""CREATE TEMP TABLE ingest_reject_shift AS
            SELECT (line - 2) - (row_number() OVER (ORDER BY line) - 1) AS from_rowid
            FROM (SELECT DISTINCT line FROM ingest_rejects)""")
        row_no_sql = "src.rowid + 2 + (SELECT count(*) FROM ingest_reject_shift s WHERE s.from_rowid <= src.rowid)"
    notes = [f"忽略未知列 / ignored unknown columns: {', '.join(mapped.ignored)}"] if mapped.ignored else []
    return Staged(
        relation="ingest_raw",
        row_no_sql=row_no_sql,
        columns=dict(mapped.positions),
        raw_columns=[(cell or f"c{position}", f'"c{position}"') for position, cell in enumerate(mapped.headers)],
        format="csv",
        encoding=encoding,
        rejected=rejected,
        notes=notes,
    )
