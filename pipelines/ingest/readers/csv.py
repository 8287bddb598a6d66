"""CSV files: DuckDB reads a plain file as it is; any other is split into records in Python first.

A plain file (no quote, NUL, zero-width character, blank line or lone CR; checked over its bytes) has one
record per line, so DuckDB reads it strictly as UTF-8 as it is and must read exactly as many records as it has
lines after the header. If DuckDB refuses it (a line with the wrong field count, a byte that is not UTF-8), or
for any other file (GB18030, UTF-16, quoted cells), Python
splits the file into records (honouring quotes) and writes the ones that fit the header to a clean UTF-8
copy, each with its record number; a record that does not fit (wrong field count, broken quoting,
undecodable bytes, NUL bytes) is rejected on its own and quarantined whole. DuckDB then reads the clean
copy strictly, and must read exactly as many records as Python counted, or the file is refused whole.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.errors import BadFileError
from pipelines.ingest.headers import map_headers
from pipelines.ingest.staged import ZERO_WIDTH, RejectedLine, Staged, visible
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

PLAIN_CHUNK_BYTES = 16 << 20
# UTF-8 bytes of the characters every reader removes from cells (staged.ZERO_WIDTH): a plain file has none.
ZERO_WIDTH_BYTES = tuple(char.encode("utf-8") for char in "\u200b\u200c\u200d\u2060\ufeff")

csv.field_size_limit(MAX_RECORD_CHARS)
log = logging.getLogger("fundflow.ingest")


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


# How GB18030 would pair the bytes of each non-ASCII character: both in 0xA1–0xFE (the GB2312 area: nearly
# all Chinese text in bank files), or a lead byte with a trail byte outside it (GBK's extension areas: rare
# characters); a four-byte sequence or a byte GB18030 cannot start with is neither.
GB_TOKENS = re.compile(
    rb"([\xa1-\xfe][\xa1-\xfe])|([\x81-\xfe][\x40-\x7e\x80-\xfe])|[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39]|[\x80-\xff]"
)


def check_not_western(path: Path) -> None:
    """A file that fails as UTF-8 is read as GB18030; refuse it when its bytes are Latin-1 (or another 8-bit
    Western code page such as Windows-1252) instead. There an accented letter is one byte, usually followed by
    an ASCII letter, and GB18030 pairs the two into a rare extension-area character (Müller → M黮ler): garbled
    names, loaded without an error. Chinese text pairs GB2312-area bytes instead, so the file is refused when
    extension-area pairs outnumber those (a rare name character now and then does not). Binary files (NUL
    bytes) are left to the "not a text file" check."""
    common = rare = 0
    first_rare = -1
    offset = 0
    with open(path, "rb") as handle:
        rest = b""
        while True:
            chunk = handle.read(CHUNK_BYTES)
            data = rest + chunk
            if not data:
                break
            if b"\x00" in data:
                return
            cut = (data.rfind(b"\n") + 1 or len(data)) if chunk else len(data)  # a pair never spans two reads
            for found in GB_TOKENS.finditer(data, 0, cut):
                if found.group(1):
                    common += 1
                elif found.group(2):
                    rare += 1
                    if first_rare < 0:
                        first_rare = offset + found.start()
            offset += cut
            rest = data[cut:]
    if rare > common:
        raise BadFileError(
            path,
            f"疑似 Latin-1 等西文单字节编码，不是 UTF-8 或 GB18030（{rare:,} 处会被误读为生僻汉字，首处字节偏移 "
            f"{first_rare}）；请以 UTF-8 或 GB18030 重新导出 / looks like Latin-1 or another 8-bit Western "
            f"encoding, not UTF-8 or GB18030: {rare:,} characters would be misread as rare Chinese ones (first at "
            f"byte offset {first_rare}); file refused, re-export it as UTF-8 or GB18030",
        )


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


@dataclass
class Plain:
    """What the whole-file check found in a file DuckDB may read as it is."""

    header: list[str]
    delimiter: str
    records: int
    """Lines after the header: each is one record, as no quote can join lines."""


def _has_zero_width(block: bytes) -> bool:
    # A one-byte search is a memchr; most blocks have no 0xE2 byte at all, so the longer searches are skipped.
    return (b"\xe2" in block and any(mark in block for mark in ZERO_WIDTH_BYTES[:-1])) or ZERO_WIDTH_BYTES[-1] in block


def plain_file(path: Path) -> Plain | None:
    """The file's header and record count when it is plain (see the module docstring), else None.

    Only C-speed byte scans per block of whole lines, so the check costs a small part of reading the file.
    """
    with open(path, "rb") as handle:
        first_line = handle.readline(MAX_RECORD_CHARS)
        if not first_line.endswith(b"\n"):
            return None
        first_line = first_line.removeprefix(BOM)
        try:
            header_text = first_line.decode("utf-8")
        except UnicodeDecodeError:
            return None
        header_text = header_text.removesuffix("\n").removesuffix("\r")
        if not header_text.strip() or any(mark in header_text for mark in ('"', "\x00", "\r")):
            return None
        if ZERO_WIDTH.search(header_text):
            return None
        delimiter = max(DELIMITERS, key=header_text.count)
        crlf = first_line.endswith(b"\r\n")
        line_end = b"\r\n" if crlf else b"\n"
        lines = 0
        previous_end = b"\n"
        while block := handle.read(PLAIN_CHUNK_BYTES):
            if not block.endswith(b"\n"):
                block += handle.readline(MAX_RECORD_CHARS)
            if b'"' in block or b"\x00" in block or _has_zero_width(block):
                return None
            newlines = block.count(b"\n")
            # Every line ends as the header does (CRLF or LF), with no CR anywhere else.
            if (b"\r" in block or crlf) and (
                block.count(b"\r") != (newlines if crlf else 0) or (crlf and block.count(b"\r\n") != newlines)
            ):
                return None
            if line_end + line_end in block or (previous_end == b"\n" and block.startswith(line_end)):
                return None
            lines += newlines + (not block.endswith(b"\n"))
            previous_end = block[-1:]
    return Plain(next(csv.reader([header_text], delimiter=delimiter)), delimiter, lines)


def _read_plain(con: duckdb.DuckDBPyConnection, path: Path, plain: Plain) -> bool:
    """Read a plain file with DuckDB as it is; False (nothing kept) when DuckDB refuses a line or the count differs."""
    columns = ", ".join(f"'c{position}': 'VARCHAR'" for position in range(len(plain.header)))
    con.execute("DROP TABLE IF EXISTS ingest_raw")
    try:
        # Insertion order is kept (DuckDB preserves it for a file scan into a table), so rowid is the line order.
        con.execute(f"""
            CREATE TEMP TABLE ingest_raw AS SELECT * FROM read_csv({_sql_text(str(path))},
                header = false, skip = 1, delim = {_sql_text(plain.delimiter)}, quote = '"', escape = '"',
                auto_detect = false, columns = {{{columns}}}, strict_mode = true, null_padding = false,
                max_line_size = {4 * MAX_RECORD_CHARS}, ignore_errors = false, encoding = 'utf-8')""")
    except duckdb.Error as exc:
        log.debug("%s: DuckDB refused the plain read (%s); splitting in Python", path.name, _first_line(exc))
        con.execute("DROP TABLE IF EXISTS ingest_raw")
        return False
    read = scalar(con, "SELECT count(*) FROM ingest_raw")
    if read != plain.records:
        log.debug("%s: DuckDB read %s of %s lines; splitting in Python", path.name, read, plain.records)
        con.execute("DROP TABLE IF EXISTS ingest_raw")
        return False
    return True


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


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
    if progress:
        progress(f"读取 / reading {path.name} ({path.stat().st_size / 1e6:,.0f} MB)")
    plain = plain_file(path)
    if plain is not None and plain.records > 0:
        mapped = map_headers(path, plain.header)
        if _read_plain(con, path, plain):
            return Staged(
                relation="ingest_raw",
                row_no_sql="(src.rowid + 2)",
                columns=dict(mapped.positions),
                raw_columns=[
                    (cell or f"c{position}", f'"c{position}"') for position, cell in enumerate(mapped.headers)
                ],
                format="csv",
                encoding="utf-8-sig" if head.startswith(BOM) else "utf-8",
                notes=_ignored_note(mapped.ignored),
                records=plain.records,
            )
    encoding = decide_encoding(path)
    if encoding == "gb18030":
        check_not_western(path)
    settings.tmp.mkdir(parents=True, exist_ok=True)
    clean = settings.tmp / f"clean-{time.time_ns()}.csv"
    source_path = _utf16_to_utf8(path, settings) if encoding == "utf-16" else path
    try:
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
    return Staged(
        relation="ingest_raw",
        row_no_sql="src.row_no",
        columns=dict(mapped.positions),
        raw_columns=[(cell or f"c{position}", f'"c{position}"') for position, cell in enumerate(mapped.headers)],
        format="csv",
        encoding=encoding,
        rejected=split.rejected,
        notes=_ignored_note(mapped.ignored),
        records=split.records,
    )


def _ignored_note(ignored: list[str]) -> list[str]:
    return [f"忽略未知列 / ignored unknown columns: {', '.join(ignored)}"] if ignored else []
