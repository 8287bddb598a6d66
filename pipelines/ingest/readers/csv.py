"""CSV files: decide the encoding from the whole file, split records in Python, let DuckDB stream the good ones.

Python splits the file into records (honouring quotes) and writes the ones that fit the header to a clean
UTF-8 copy, each with its record number; a record that does not fit (wrong field count, broken quoting,
undecodable bytes, NUL bytes) is rejected on its own and quarantined whole. DuckDB then reads the clean
copy strictly, and must read exactly as many records as Python counted, or the file is refused whole.
"""

from __future__ import annotations

import codecs
import csv
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.errors import BadFileError
from pipelines.ingest.headers import map_headers
from pipelines.ingest.staged import RejectedLine, Staged, visible
from pipelines.settings import Settings
from pipelines.warehouse.db import scalar

BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
CHUNK_BYTES = 1 << 20
DELIMITERS = (",", "\t", ";", "|")
MAX_RECORD_CHARS = 16 << 20
"""A quoted record longer than this is taken as a quote left open, not as one huge field."""
MAX_RECORD_LINES = 10_000
NOT_TEXT = "不是文本文件 / not a text file"
TOO_MANY = "字段数多于表头 / more fields than the header"
TOO_FEW = "字段数少于表头 / fewer fields than the header"
BAD_QUOTES = "引号不成对 / unbalanced quotes"
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GB18030", "utf-16": "UTF-16"}

csv.field_size_limit(MAX_RECORD_CHARS)


def _split_lines(offset: int, block: bytes) -> list[tuple[int, bytes]]:
    """(byte offset, line without its end) for `\n`, `\r\n` and lone `\r` line ends."""
    found = []
    for raw in block.splitlines(keepends=True):
        body = raw.rstrip(b"\r\n")
        found.append((offset, body))
        offset += len(raw)
    return found


def decide_encoding(path: Path) -> str:
    """'utf-8-sig', 'utf-16', 'utf-8' or 'gb18030', from evidence over the whole file.

    UTF-8 unless lines that fail as UTF-8 outnumber the non-ASCII lines that decode as UTF-8 (valid
    multi-byte UTF-8 rarely happens by chance in GBK text); so one stray byte never turns a file to GB18030.
    """
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(UTF16_BOMS):
            return "utf-16"
        if head.startswith(BOM):
            return "utf-8-sig"
        handle.seek(0)
        utf8_lines = bad_lines = 0
        rest = b""
        while chunk := handle.read(CHUNK_BYTES):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut == 0 and len(chunk) < 8 * CHUNK_BYTES:
                rest = chunk
                continue
            body, rest = (chunk[:cut], chunk[cut:]) if cut else (chunk, b"")
            utf8, bad = _utf8_votes(body)
            utf8_lines, bad_lines = utf8_lines + utf8, bad_lines + bad
        utf8, bad = _utf8_votes(rest)
        utf8_lines, bad_lines = utf8_lines + utf8, bad_lines + bad
    return "utf-8" if bad_lines <= utf8_lines else "gb18030"


def _utf8_votes(body: bytes) -> tuple[int, int]:
    """(non-ASCII lines that are valid UTF-8, lines that are not) in a run of whole lines."""
    if body.isascii():
        return 0, 0
    try:
        body.decode("utf-8")
        return sum(not line.isascii() for line in body.split(b"\n")), 0
    except UnicodeDecodeError:
        pass
    utf8 = bad = 0
    for line in body.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            bad += 1
    return utf8, bad


def _utf16_to_utf8(path: Path, settings: Settings) -> Path:
    """UTF-16 (with BOM) → a UTF-8 temp copy; a damaged UTF-16 file is refused, naming the byte offset."""
    settings.tmp.mkdir(parents=True, exist_ok=True)
    target = settings.tmp / f"utf16-{time.time_ns()}.csv"
    data = path.read_bytes()
    try:
        text = data.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise BadFileError(
            path, f"UTF-16 编码错误，字节偏移 {exc.start} / invalid UTF-16 at byte offset {exc.start}"
        ) from None
    target.write_bytes(text.encode("utf-8"))
    return target


@dataclass
class Split:
    header: list[str]
    delimiter: str
    records: int = 0
    """Every record after the header: written to the clean copy or rejected."""
    written: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)
    undecodable: int = 0
    """Rejected records whose bytes are not text in the file's encoding."""


def _decode(line: bytes, offset: int, encoding: str) -> tuple[str | None, str]:
    """(text, "") or (None, what is wrong, naming the byte offset)."""
    if b"\x00" in line:
        at = offset + line.index(b"\x00")
        return None, f"含 NUL 字节，字节偏移 {at} / NUL byte at byte offset {at}"
    try:
        return line.decode(encoding), ""
    except UnicodeDecodeError as exc:
        name = ENCODING_NAMES[encoding]
        at = offset + exc.start
        return None, f"{name} 编码错误，字节偏移 {at} / invalid {name} at byte offset {at}"


class _Source:
    """A file's lines, read a block of whole lines at a time, with push-back (a record that turns out
    broken gives its later lines back)."""

    def __init__(self, handle):
        self.handle = handle
        self.offset = 0
        self.rest = b""
        self.back: deque[tuple[int, bytes]] = deque()

    def block(self) -> tuple[int, bytes] | None:
        """(byte offset, about CHUNK_BYTES of whole lines); the last line may lack its end."""
        while True:
            chunk = self.handle.read(CHUNK_BYTES)
            data = self.rest + chunk
            if not data:
                return None
            cut = len(data) if not chunk else data.rfind(b"\n") + 1
            if cut == 0:
                self.rest = data
                continue
            found, self.rest = (self.offset, data[:cut]), data[cut:]
            self.offset += cut
            return found

    def next(self) -> tuple[int, bytes] | None:
        if not self.back:
            found = self.block()
            if found is None:
                return None
            self.back.extend(_split_lines(*found))
        return self.back.popleft() if self.back else None

    def push(self, items: list[tuple[int, bytes]]) -> None:
        self.back.extendleft(reversed(items))


class _Stop(Exception):
    """The lines after a quoted record's first line ran out, were undecodable, or were too many."""


def _continued(first: str, source: _Source, encoding: str, taken: list[tuple[int, bytes]]) -> Iterator[str]:
    """A quoted record's first line, then further lines as csv asks for them, each noted in `taken`."""
    yield first + "\n"
    size = len(first)
    while (following := source.next()) is not None:
        taken.append(following)
        text, _ = _decode(following[1], following[0], encoding)
        size += len(following[1])
        if text is None or len(taken) > MAX_RECORD_LINES or size > MAX_RECORD_CHARS:
            raise _Stop
        yield text + "\n"


def _fast_block(block: bytes, encoding: str, delimiter: str, width: int, split: Split, out, reject) -> bool:
    """Most blocks hold no quote, NUL or damaged byte: take them whole, checking only field counts."""
    if b'"' in block or b"\x00" in block:
        return False
    if b"\r" in block:
        if block.count(b"\r") != block.count(b"\r\n"):
            return False
        block = block.replace(b"\r\n", b"\n")
    try:
        text = visible(block.decode(encoding))
    except UnicodeDecodeError:
        return False
    written = []
    for line in text.split("\n"):
        if not line or line.isspace():
            continue
        cells = line.count(delimiter) + 1
        split.records += 1
        if cells == width:
            written.append(f"{split.records + 1}{delimiter}{line}\n")
        else:
            split.records -= 1
            reject(line, TOO_MANY if cells > width else TOO_FEW)
    split.written += len(written)
    out.write("".join(written))
    return True


def split_records(path: Path, source_path: Path, encoding: str, clean: Path) -> Split:
    text_encoding = "utf-8" if encoding in ("utf-8-sig", "utf-16") else encoding
    with open(source_path, "rb") as handle, open(clean, "w", encoding="utf-8", newline="") as out:
        source = _Source(handle)
        first = source.next()
        header_text, problem = _decode(first[1], first[0], text_encoding) if first else (None, "")
        if header_text is not None and encoding != "gb18030":
            header_text = header_text.removeprefix("\ufeff")
        if problem:
            raise BadFileError(path, f"{NOT_TEXT}: 表头 / header: {problem}")
        if not header_text or not header_text.strip():
            raise BadFileError(
                path, "找不到可识别的表头（第一行为空） / no recognisable header: the first line is blank"
            )
        delimiter = max(DELIMITERS, key=header_text.count)
        header = next(csv.reader([visible(header_text)], delimiter=delimiter))
        split = Split(header=header, delimiter=delimiter)
        width = len(header)
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")

        def reject(text: str, message: str) -> None:
            split.records += 1
            split.rejected.append(RejectedLine(split.records + 1, message, text))

        while True:
            if not source.back:
                found = source.block()
                if found is None:
                    break
                if _fast_block(found[1], text_encoding, delimiter, width, split, out, reject):
                    continue
                source.back.extend(_split_lines(*found))
                if not source.back:
                    continue
            offset, raw = source.back.popleft()
            text, problem = _decode(raw, offset, text_encoding)
            if text is None:
                split.undecodable += 1
                reject(raw.decode(text_encoding, "replace").replace("\x00", "\\x00"), problem)
                continue
            if not text.strip():
                continue
            text = visible(text)
            if '"' not in text:
                cells = text.count(delimiter) + 1
                if cells == width:
                    split.records += 1
                    split.written += 1
                    out.write(f"{split.records + 1}{delimiter}{text}\n")
                else:
                    reject(text, TOO_MANY if cells > width else TOO_FEW)
                continue
            taken: list[tuple[int, bytes]] = []

            reader = csv.reader(_continued(text, source, text_encoding, taken), delimiter=delimiter, strict=True)
            try:
                cells_read = next(reader)
            except (csv.Error, _Stop, StopIteration):
                cells_read = None
            # csv pulls one line at a time, so `taken` holds exactly the lines this record used.
            if cells_read is not None and len(cells_read) == width:
                split.records += 1
                split.written += 1
                writer.writerow([split.records + 1, *map(visible, cells_read)])
                continue
            source.push(taken)
            if cells_read is None or taken:
                reject(text, BAD_QUOTES)
            else:
                reject(text, TOO_MANY if len(cells_read) > width else TOO_FEW)
    return split


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_clean(con: duckdb.DuckDBPyConnection, clean: Path, delimiter: str, width: int) -> None:
    columns = ", ".join(["'row_no': 'BIGINT'"] + [f"'c{position}': 'VARCHAR'" for position in range(width)])
    con.execute("DROP TABLE IF EXISTS ingest_raw")
    con.execute(f"""
        CREATE TEMP TABLE ingest_raw AS SELECT * FROM read_csv({_sql_text(str(clean))},
            header = false, delim = {_sql_text(delimiter)}, quote = '"', escape = '"', auto_detect = false,
            columns = {{{columns}}}, strict_mode = true, null_padding = false, max_line_size = {4 * MAX_RECORD_CHARS},
            ignore_errors = false)""")


def stage_csv(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, progress=None) -> Staged:
    with open(path, "rb") as handle:
        head = handle.read(CHUNK_BYTES)
    if not head.replace(BOM, b"").strip():
        raise BadFileError(path, "文件为空 / empty file")
    encoding = decide_encoding(path)
    settings.tmp.mkdir(parents=True, exist_ok=True)
    clean = settings.tmp / f"clean-{time.time_ns()}.csv"
    source_path = _utf16_to_utf8(path, settings) if encoding == "utf-16" else path
    try:
        if progress:
            progress(f"读取 / reading {path.name} ({path.stat().st_size / 1e6:,.0f} MB)")
        split = split_records(path, source_path, encoding, clean)
        if split.undecodable * 2 > split.records and split.undecodable > 10:
            # Mostly undecodable: a binary file or another encoding, not a text file with a few damaged lines.
            raise BadFileError(
                path,
                f"{NOT_TEXT}: {split.undecodable:,} / {split.records:,} 条记录无法解码 / records undecodable "
                f"(first: row {split.rejected[0].row_no}: {split.rejected[0].message})",
            )
        mapped = map_headers(path, split.header)
        _read_clean(con, clean, split.delimiter, len(split.header))
    finally:
        clean.unlink(missing_ok=True)
        if source_path != path:
            source_path.unlink(missing_ok=True)
    read = scalar(con, "SELECT count(*) FROM ingest_raw")
    if read != split.written:
        raise BadFileError(
            path,
            f"记录数不一致：计数 {split.written:,} 条，读取 {read:,} 条；整个文件未导入 / record count mismatch: "
            f"counted {split.written:,}, read {read:,}; file refused whole",
        )
    notes = [f"忽略未知列 / ignored unknown columns: {', '.join(mapped.ignored)}"] if mapped.ignored else []
    return Staged(
        relation="ingest_raw",
        row_no_sql="src.row_no",
        columns=dict(mapped.positions),
        raw_columns=[(cell or f"c{position}", f'"c{position}"') for position, cell in enumerate(mapped.headers)],
        format="csv",
        encoding=encoding,
        rejected=split.rejected,
        notes=notes,
        records=split.records,
    )
