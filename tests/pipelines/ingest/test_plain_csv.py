"""A plain CSV file is read by DuckDB as it is, and stores exactly what the careful Python split stores."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from pipelines.ingest.load import ingest_file
from pipelines.ingest.readers import csv as csv_reader
from pipelines.warehouse import db as warehouse

HEADER = "txn_ref,txn_time,account_no,account_name,direction,amount,memo"
KEYS = 500


def rows(count: int) -> list[str]:
    found = []
    for number in range(count):
        amount = "100.00" if number % 97 else "abc"  # a bad amount now and then: quarantined with its row
        memo = " 货款 " if number % 13 == 0 else ("@N" if number % 17 == 0 else "")
        found.append(
            f"T{number % KEYS},2025-03-01 10:{number // 60 % 60:02d}:{number % 60:02d},62220{number % KEYS:05d},"
            f"赵{number % 7},IN,{amount},{memo}"
        )
    return found


def stored(con) -> dict[str, list]:
    return {
        "txn": con.execute("SELECT * EXCLUDE (loaded_at) FROM txn ORDER BY row_no").fetchall(),
        "quarantine": con.execute(
            "SELECT * EXCLUDE (quarantined_at) FROM quarantine ORDER BY row_no, field"
        ).fetchall(),
        "files": con.execute("SELECT * EXCLUDE (arrived_at, path) FROM files").fetchall(),
    }


def ingest_both_ways(settings, path: Path, monkeypatch) -> tuple[dict, dict, list[bool]]:
    """(stored by the normal path, stored with the plain read switched off, what each plain read returned)."""
    plain_reads: list[bool] = []
    read_plain = csv_reader._read_plain

    def spy(*args):
        plain_reads.append(read_plain(*args))
        return plain_reads[-1]

    monkeypatch.setattr(csv_reader, "_read_plain", spy)
    results = []
    for careful in (False, True):
        if careful:
            monkeypatch.setattr(csv_reader, "plain_file", lambda path: None)
        con = warehouse.connect_memory()
        try:
            result = ingest_file(con, settings, path)
            assert result.status == "loaded"
            results.append(stored(con))
        finally:
            con.close()
    return results[0], results[1], plain_reads


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_plain_file_is_read_as_is_and_stores_what_the_python_split_stores(settings, tmp_path, monkeypatch, line_end):
    path = tmp_path / "C1234533000011_plain_LARGE.csv"
    # A BOM, spaces around cells, '@N', in-file duplicates (T0 again from row 502) and bad amounts.
    path.write_bytes(codecs.BOM_UTF8 + line_end.join([HEADER, *rows(1500)]).encode() + line_end.encode())
    plain, careful, plain_reads = ingest_both_ways(settings, path, monkeypatch)
    assert plain_reads == [True]
    assert plain == careful
    assert len(plain["txn"]) == len({n % KEYS for n in range(1500) if n % 97})
    bad_amount_rows = {row_no for _, _, row_no, field, *_ in plain["quarantine"] if field == "amount"}
    assert bad_amount_rows == {n + 2 for n in range(1500) if n % 97 == 0}


def test_a_line_with_the_wrong_field_count_sends_the_file_to_the_python_split(settings, tmp_path, monkeypatch):
    lines = rows(500)
    lines[199] += ",extra"
    lines[300] = lines[300].rsplit(",", 2)[0]
    path = tmp_path / "C1234533000011_fields_LARGE.csv"
    path.write_text("\n".join([HEADER, *lines]), encoding="utf-8")  # no line end after the last line either
    plain, careful, plain_reads = ingest_both_ways(settings, path, monkeypatch)
    assert plain_reads == [False]
    assert plain == careful
    bad_lines = {row_no for _, _, row_no, field, *_ in plain["quarantine"] if field == "line"}
    assert bad_lines == {201, 302}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda text: text.replace("赵3", '"赵3"'), id="quote"),
        pytest.param(lambda text: text.replace("\n", "\n\n", 1), id="blank line"),
        pytest.param(lambda text: text.replace("赵3", "赵\u200b3"), id="zero-width"),
        pytest.param(lambda text: text.replace("赵3", "赵\r3", 1), id="lone CR"),
    ],
)
def test_files_that_are_not_plain_take_the_python_split(tmp_path, change):
    path = tmp_path / "x.csv"
    path.write_bytes(change("\n".join([HEADER, *rows(50)]) + "\n").encode())
    assert csv_reader.plain_file(path) is None
    path.write_bytes(("\n".join([HEADER, *rows(50)]) + "\n").encode())
    found = csv_reader.plain_file(path)
    assert found is not None and found.records == 50 and found.header == HEADER.split(",")


@pytest.mark.parametrize("line", ["4,5", "4,5,6,7"], ids=["too few fields", "too many fields"])
def test_duckdb_refuses_a_plain_file_with_one_line_of_the_wrong_field_count(tmp_path, line):
    path = tmp_path / "x.csv"
    path.write_text(f"a,b,c\n1,2,3\n{line}\n6,7,8\n", encoding="utf-8")
    con = warehouse.connect_memory()
    try:
        plain = csv_reader.plain_file(path)
        assert plain is not None and plain.records == 3
        assert csv_reader._read_plain(con, path, plain) is False
        path.write_text("a,b,c\n1,2,3\n4,5,\n6,7,8\n", encoding="utf-8")  # an empty last cell is a field
        assert csv_reader._read_plain(con, path, csv_reader.plain_file(path)) is True
        assert con.execute("SELECT c2 FROM ingest_raw ORDER BY rowid").fetchall() == [("3",), (None,), ("8",)]
    finally:
        con.close()
