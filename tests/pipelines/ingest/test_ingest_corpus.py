"""Crafted files a careless bank system or an attacker would send: every record is accounted for.

Each case is made here from code. A loaded file must satisfy loaded + quarantined + duplicates = the
records the test wrote; a refused file must be refused with exactly the message given, and nothing stored.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from pipelines.cli import main
from pipelines.errors import BadFileError
from pipelines.ingest.load import ingest_file, ingest_paths
from pipelines.warehouse import db as warehouse

HEADER = "txn_ref,txn_time,account_no,account_name,direction,amount"
PREFIX = "C1234533000011_"


def row(number: int, name: str = "赵一", amount: str = "100.00") -> str:
    return f"T{number},2025-03-01 10:{number // 60 % 60:02d}:{number % 60:02d},62220{number:05d},{name},IN,{amount}"


def csv_text(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def workbook_bytes(rows: list[list], header: list[str] | None = None) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(header or HEADER.split(","))
    for cells in rows:
        book.active.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def replace_part(data: bytes, part: str, change) -> bytes:
    """The workbook with one zip member rewritten by `change(bytes) -> bytes`."""
    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            body = source.read(info.filename)
            out.writestr(info.filename, change(body) if info.filename == part else body)
    return target.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def short_lines() -> bytes:
    rows = [row(n) if not 1000 <= n < 2000 else row(n).rsplit(",", 1)[0] for n in range(3000)]
    return csv_text(rows).encode()


def unterminated_quote() -> bytes:
    rows = [row(n) for n in range(200)]
    rows[1] = rows[1].replace("赵一", '"赵一')
    return csv_text(rows).encode()


def quoted_newline() -> bytes:
    return csv_text([row(1), row(2, name='"赵\n一"'), row(3, name='"钱""二"""')]).encode()


def stray_byte_after_64k() -> bytes:
    rows = [row(n).encode() for n in range(1500)]
    # valid GB18030, invalid UTF-8: the old reader re-decoded the whole file as GB18030 for it
    rows[1400] = rows[1400].replace("赵一".encode(), b"\xa1\xa1")
    return b"\n".join([HEADER.encode(), *rows]) + b"\n"


def gb18030_after_ascii() -> bytes:
    rows = [row(n, name="ZHAO") for n in range(1500)] + [row(n, name="赵一") for n in range(1500, 1600)]
    return csv_text(rows).encode("gb18030")


def truncated_gbk() -> bytes:
    return csv_text([row(n) for n in range(5)] + [row(5)]).encode("gbk").rstrip(b"\n")[:-6] + "赵".encode("gbk")[:1]


def nul_bytes() -> bytes:
    rows = [row(n).encode() for n in range(1500)]
    rows[0] = rows[0].replace(b"IN", b"I\x00N")
    rows[1400] = rows[1400].replace(b"IN", b"I\x00N")
    return b"\n".join([HEADER.encode(), *rows]) + b"\n"


def big_amounts() -> bytes:
    rows = [
        row(1, amount="10000000000.00"),
        row(2, amount="9999999999999999.99"),
        row(3, amount="99999999999999999.99"),
        row(4, amount="9999999999999999.99") + ",USD",
    ]
    return "\n".join([HEADER + ",currency", *(line + ("" if line.endswith("USD") else ",") for line in rows)]).encode()


def wrong_dimension() -> bytes:
    data = workbook_bytes([row(n).split(",") for n in range(5)])
    return replace_part(data, SHEET, lambda body: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B2"', body))


def sheet_rows(change) -> bytes:
    """A five-record workbook whose sheet XML rows (`<row r=…>…</row>`, header first) `change` rearranges."""

    def rearrange(body: bytes) -> bytes:
        rows = re.findall(rb'<row r="\d+".*?</row>', body)
        return body.replace(b"".join(rows), b"".join(change(rows)))

    return replace_part(workbook_bytes([row(n).split(",") for n in range(5)]), SHEET, rearrange)


def numeric_accounts() -> bytes:
    cells = [row(n).split(",") for n in range(4)]
    cells[0][2] = 6.22848000000001e18
    cells[1][2] = 6228480000000000001.0
    cells[2][2] = 622848
    cells[3][2] = 622848.0
    return workbook_bytes(cells)


def wide_sheet() -> bytes:
    return workbook_bytes([row(1).split(",")], header=HEADER.split(",") + [f"x{n}" for n in range(16_378)])


def corrupt_sheet() -> bytes:
    return replace_part(workbook_bytes([row(1).split(",")]), SHEET, lambda body: body[: len(body) // 2])


def entity_in_cell(declared: bool) -> bytes:
    def add_entity(body: bytes) -> bytes:
        if declared:
            body = b'<!DOCTYPE worksheet [<!ENTITY e "boom">]>' + body
        return body.replace(b"<t>", b"<t>&e;", 1)

    return replace_part(workbook_bytes([row(1).split(",")]), SHEET, add_entity)


WESTERN_NAMES = ["Müller", "Jörg Böhm", "Zoë Ångström", "Françoise", "Niño"]


def latin1_names() -> bytes:
    """A bank file exported as Latin-1: GB18030 would read it without an error, every name garbled."""
    return csv_text([row(n, name=WESTERN_NAMES[n % 5]) for n in range(50)]).encode("latin-1")


def gb18030_rare_characters() -> bytes:
    """Genuine GB18030 with a few extension-area name characters (镕 is 0xE946: an ASCII trail byte)."""
    names = ["朱镕基", "王堃", "赵一", "钱二", "孙三"]
    return csv_text([row(n, name=names[n % 5]) for n in range(50)]).encode("gb18030")


def deep_xml() -> bytes:
    return b"<PHTR>" + b"<A>" * 5000 + b"<TICD>1</TICD>" + b"</A>" * 5000 + b"</PHTR>"


# name → (bytes, records written, expected (loaded, quarantined, duplicates) or None when refused)
LOADED = {
    "short_lines_LARGE.csv": (short_lines, 3000, (2000, 1000, 0)),
    "unterminated_quote_LARGE.csv": (unterminated_quote, 200, (199, 1, 0)),
    "quoted_newline_LARGE.csv": (quoted_newline, 3, (3, 0, 0)),
    "stray_byte_LARGE.csv": (stray_byte_after_64k, 1500, (1499, 1, 0)),
    "gb18030_late_LARGE.csv": (gb18030_after_ascii, 1600, (1600, 0, 0)),
    "truncated_gbk_LARGE.csv": (truncated_gbk, 6, (5, 1, 0)),
    "nul_bytes_LARGE.csv": (nul_bytes, 1500, (1498, 2, 0)),
    "big_amounts_LARGE.csv": (big_amounts, 4, (2, 2, 0)),
    "utf16_LARGE.csv": (lambda: csv_text([row(n) for n in range(3)]).encode("utf-16"), 3, (3, 0, 0)),
    "wrong_dimension_LARGE.xlsx": (wrong_dimension, 5, (5, 0, 0)),
    "numeric_accounts_LARGE.xlsx": (numeric_accounts, 4, (2, 2, 0)),
    "gb18030_rare_LARGE.csv": (gb18030_rare_characters, 50, (50, 0, 0)),
}
REFUSED = {
    "wide_LARGE.xlsx": (wide_sheet, "列数超过 256 列的上限 / more than 256 columns (found at least 16384)"),
    "corrupt_sheet_LARGE.xlsx": (
        corrupt_sheet,
        "无法读取 Excel 工作簿（文件损坏或不是 xlsx） / cannot read the workbook (damaged or not xlsx): ParseError",
    ),
    "entity_LARGE.xlsx": (
        lambda: entity_in_cell(declared=True),
        "工作簿 XML 含有实体声明，已拒绝 / workbook XML declares entities: refused",
    ),
    "undeclared_entity_LARGE.xlsx": (
        lambda: entity_in_cell(declared=False),
        "无法读取 Excel 工作簿（文件损坏或不是 xlsx） / cannot read the workbook (damaged or not xlsx): ParseError",
    ),
    "deep_LARGE.xml": (deep_xml, "XML 嵌套超过 64 层 / XML nested deeper than 64 levels"),
    # openpyxl silently drops a row written out of order, and the second of two rows with the same number
    "rows_out_of_order_LARGE.xlsx": (
        lambda: sheet_rows(lambda rows: [*rows[:2], rows[3], rows[2], *rows[4:]]),
        "记录数不一致：工作表 XML 中 5 行有内容，读取 4 行；整个文件未导入 / record count mismatch: the sheet's XML "
        "has 5 rows with content, 4 were read; file refused whole",
    ),
    "rows_numbered_twice_LARGE.xlsx": (
        lambda: sheet_rows(lambda rows: [*rows, rows[-1].replace(b"<t>T4<", b"<t>T5<")]),
        "记录数不一致：工作表 XML 中 6 行有内容，读取 5 行；整个文件未导入 / record count mismatch: the sheet's XML "
        "has 6 rows with content, 5 were read; file refused whole",
    ),
    "latin1_LARGE.csv": (
        latin1_names,
        "疑似 Latin-1 等西文单字节编码，不是 UTF-8 或 GB18030（70 处会被误读为生僻汉字，首处字节偏移 93）；"
        "请以 UTF-8 或 GB18030 重新导出 / looks like Latin-1 or another 8-bit Western encoding, not UTF-8 or "
        "GB18030: 70 characters would be misread as rare Chinese ones (first at byte offset 93); file refused, "
        "re-export it as UTF-8 or GB18030",
    ),
}


def write(folder: Path, name: str, make) -> Path:
    path = folder / (PREFIX + name)
    path.write_bytes(make())
    return path


def stored_counts(con, file_id: str) -> tuple[int, int]:
    loaded = con.execute("SELECT count(*) FROM txn WHERE file_id = ?", [file_id]).fetchone()[0]
    held = con.execute("SELECT count(DISTINCT row_no) FROM quarantine WHERE file_id = ?", [file_id]).fetchone()[0]
    return loaded, held


@pytest.mark.parametrize("name", sorted(LOADED))
def test_every_record_is_loaded_or_quarantined(settings, tmp_path, name):
    make, records, expected = LOADED[name]
    path = write(tmp_path, name, make)
    con = warehouse.connect(settings)
    try:
        result = ingest_file(con, settings, path)
        assert result.rows_read == records
        assert result.loaded + result.quarantined + result.duplicates == records
        assert (result.loaded, result.quarantined, result.duplicates) == expected
        assert stored_counts(con, result.file_id) == (expected[0], expected[1])
    finally:
        con.close()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_files_say_exactly_why(settings, tmp_path, name):
    make, message = REFUSED[name]
    path = write(tmp_path, name, make)
    con = warehouse.connect(settings)
    try:
        with pytest.raises(BadFileError) as caught:
            ingest_file(con, settings, path)
        assert str(caught.value) == f"{path}: {message}"
        assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    finally:
        con.close()


def test_damaged_record_names_the_encoding_problem_and_offset(settings, tmp_path):
    path = write(tmp_path, "stray_LARGE.csv", stray_byte_after_64k)
    data = path.read_bytes()
    con = warehouse.connect(settings)
    try:
        result = ingest_file(con, settings, path)
        assert result.file_id
        [(row_no, message)] = con.execute("SELECT row_no, message FROM quarantine").fetchall()
        names = {name for (name,) in con.execute("SELECT DISTINCT account_name FROM txn").fetchall()}
        encoding = con.execute("SELECT encoding FROM files").fetchone()[0]
    finally:
        con.close()
    assert row_no == 1402 and encoding == "utf-8" and names == {"赵一"}
    offset = data.index(b"\xa1\xa1")
    assert message.endswith(f"invalid UTF-8 at byte offset {offset}")


def test_nul_bytes_are_handled_the_same_anywhere(settings, tmp_path):
    path = write(tmp_path, "nul_LARGE.csv", nul_bytes)
    con = warehouse.connect(settings)
    try:
        ingest_file(con, settings, path)
        held = con.execute("SELECT row_no, message FROM quarantine ORDER BY row_no").fetchall()
    finally:
        con.close()
    assert [row_no for row_no, _ in held] == [2, 1402]
    assert all("NUL byte at byte offset" in message for _, message in held)


def test_gb18030_names_are_read_right_and_quoted_cells_keep_their_text(settings, tmp_path):
    con = warehouse.connect(settings)
    try:
        ingest_file(con, settings, write(tmp_path, "gb_LARGE.csv", gb18030_after_ascii))
        ingest_file(con, settings, write(tmp_path, "quoted_LARGE.csv", quoted_newline))
        names = dict(
            con.execute("SELECT txn_ref, account_name FROM txn WHERE txn_ref IN ('T1599', 'T2', 'T3')").fetchall()
        )
        encodings = {encoding for (encoding,) in con.execute("SELECT encoding FROM files").fetchall()}
    finally:
        con.close()
    assert names == {"T1599": "赵一", "T2": "赵\n一", "T3": '钱"二"'}
    assert encodings == {"gb18030", "utf-8"}


def test_rare_gb18030_name_characters_are_kept(settings, tmp_path):
    con = warehouse.connect(settings)
    try:
        ingest_file(con, settings, write(tmp_path, "rare_LARGE.csv", gb18030_rare_characters))
        names = {name for (name,) in con.execute("SELECT DISTINCT account_name FROM txn").fetchall()}
    finally:
        con.close()
    assert names == {"朱镕基", "王堃", "赵一", "钱二", "孙三"}


def test_numeric_identifiers_are_quarantined_unless_exact(settings, tmp_path):
    con = warehouse.connect(settings)
    try:
        ingest_file(con, settings, write(tmp_path, "numbers_LARGE.xlsx", numeric_accounts))
        held = con.execute("SELECT row_no, field, reason_code FROM quarantine ORDER BY row_no").fetchall()
        accounts = sorted(account for (account,) in con.execute("SELECT account_no FROM txn").fetchall())
    finally:
        con.close()
    assert held == [(2, "account_no", "numeric_identifier"), (3, "account_no", "numeric_identifier")]
    assert accounts == ["622848", "622848"]


def test_amounts_up_to_decimal_18_2_load(settings, tmp_path):
    con = warehouse.connect(settings)
    try:
        ingest_file(con, settings, write(tmp_path, "amounts_LARGE.csv", big_amounts))
        amounts = sorted(str(amount) for (amount,) in con.execute("SELECT amount FROM txn").fetchall())
        held = con.execute("SELECT row_no, reason_code FROM quarantine ORDER BY row_no").fetchall()
    finally:
        con.close()
    assert amounts == ["10000000000.00", "9999999999999999.99"]
    assert held == [(4, "bad_amount"), (5, "bad_amount")]


def test_zero_width_space_is_not_a_second_key(settings, tmp_path):
    first = tmp_path / f"{PREFIX}a_LARGE.csv"
    first.write_text(csv_text([row(1), row(2)]), encoding="utf-8")
    second = tmp_path / f"{PREFIX}b_LARGE.csv"
    second.write_text(csv_text([row(1).replace("T1", "T\u200b1"), row(2).replace("赵一", "赵\u200b一")]))
    results = ingest_paths(settings, [first, second], progress=False)
    assert [(r.loaded, r.duplicates) for r in results] == [(2, 0), (0, 2)]


def test_folder_of_bad_files_loads_the_good_ones_without_traceback(settings, tmp_path, capsys):
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name, (make, _) in REFUSED.items():
        write(folder, name, make)
    write(folder, "zz_good_LARGE.csv", lambda: csv_text([row(n) for n in range(3)]).encode())
    code = main(["--home", str(settings.home), "ingest", str(folder)])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.out + captured.err
    assert len(captured.err.strip().splitlines()) == len(REFUSED)
    assert PREFIX + "zz_good_LARGE.csv" in captured.out and "deep_LARGE.xml" in captured.out
    con = warehouse.connect(settings)
    try:
        assert con.execute("SELECT file_name, rows_loaded FROM files").fetchall() == [(PREFIX + "zz_good_LARGE.csv", 3)]
    finally:
        con.close()


def test_control_characters_in_names_and_fields_are_shown_escaped(settings, tmp_path, capsys):
    path = tmp_path / f"{PREFIX}\x1b[2J\x1b[31mred_LARGE.csv"
    path.write_text(HEADER + "\n" + row(1) + "\nT2,\x1b]0;title\x07,A2,甲,IN,1.00\n", encoding="utf-8")
    main(["--home", str(settings.home), "ingest", str(path)])
    assert main(["--home", str(settings.home), "quarantine", "list"]) == 0
    shown = capsys.readouterr()
    assert "\x1b" not in shown.out + shown.err and "\x07" not in shown.out
    assert "\\x1b[2J\\x1b[31mred_LARGE.csv" in shown.out and "\\x1b]0;title\\x07" in shown.out


def test_printable_escapes_controls_and_bidi_overrides_only():
    from pipelines.formatting import printable

    assert printable("赵一\u202e\n\t\x9b ok") == "赵一\\u202e\\n\\t\\x9b ok"
