"""Garbage in: every unreadable file is one clear error naming it, exit 1, no traceback; other files still load."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import openpyxl
import pytest

from pipelines.cli import main
from pipelines.errors import BadFileError
from pipelines.ingest.load import ingest_file, ingest_paths
from pipelines.warehouse import db as warehouse

BANK_FILES = Path(__file__).resolve().parents[3] / "data_samples" / "bank_files"
SECRET = "SECRET-MARKER-7f3a"


def _xlsx_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["txn_ref", "txn_time", "account_no", "account_name", "direction", "amount"])
    workbook.active.append(["T1", "2025-03-01 10:00:00", "A1", "甲", "IN", "1.00"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _garbage(folder: Path, secret: Path) -> dict[str, bytes]:
    return {
        "C1234533000011_empty_LARGE.csv": b"",
        "C1234533000011_blank_LARGE.csv": b"\xef\xbb\xbf \r\n\r\n",
        "C1234533000011_binary_LARGE.csv": bytes(range(256)) * 40,
        "C1234533000011_noheader_LARGE.csv": "某某,其他\n1,2\n".encode(),
        "C1234533000011_truncated_LARGE.xlsx": _xlsx_bytes()[:1500],
        "C1234533000011_notzip_LARGE.xlsx": b"this is not a workbook at all",
        "C1234533000011_malformed_LARGE.xml": b"<PHTR><RBIF><RICD>C1</RICD></RBIF><TSDTs><TSDT><TICD>1</TSDT></PHTR>",
        "C1234533000011_xxe_LARGE.xml": (
            f'<?xml version="1.0"?><!DOCTYPE PHTR [<!ENTITY leak SYSTEM "file://{secret}">]>'
            f"<PHTR><TSDTs><TSDT><TICD>X1</TICD><CTNM>&leak;</CTNM></TSDT></TSDTs></PHTR>"
        ).encode(),
        "C1234533000011_laughs_LARGE.xml": (
            b'<?xml version="1.0"?><!DOCTYPE PHTR [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><PHTR><TSDT><TICD>&c;</TICD></TSDT></PHTR>'
        ),
        "C1234533000011_norecords_LARGE.xml": b"<PHTR><RBIF><RICD>C1</RICD></RBIF></PHTR>",
    }


@pytest.fixture
def garbage(tmp_path) -> dict[str, Path]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    folder = tmp_path / "garbage"
    folder.mkdir()
    files = {}
    for name, data in _garbage(folder, secret).items():
        (folder / name).write_bytes(data)
        files[name] = folder / name
    return files


def test_each_garbage_file_is_a_bad_file_error_naming_it(settings, garbage):
    con = warehouse.connect(settings)
    try:
        for name, path in garbage.items():
            with pytest.raises(BadFileError) as caught:
                ingest_file(con, settings, path)
            message = str(caught.value)
            assert name in message and "\n" not in message, message
            assert SECRET not in message
        assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM txn").fetchone()[0] == 0
    finally:
        con.close()


def test_external_entity_is_refused_not_resolved(settings, garbage):
    [result] = ingest_paths(settings, [garbage["C1234533000011_xxe_LARGE.xml"]], progress=False)
    assert result.status == "failed" and "实体" in result.error and SECRET not in result.error


@pytest.mark.parametrize(
    "name",
    [
        "C1234533000011_empty_LARGE.csv",
        "C1234533000011_binary_LARGE.csv",
        "C1234533000011_noheader_LARGE.csv",
        "C1234533000011_truncated_LARGE.xlsx",
        "C1234533000011_malformed_LARGE.xml",
        "C1234533000011_xxe_LARGE.xml",
    ],
)
def test_command_prints_one_line_and_exits_1(settings, garbage, capsys, name):
    code = main(["--home", str(settings.home), "ingest", str(garbage[name])])
    captured = capsys.readouterr()
    assert code == 1
    assert len(captured.err.strip().splitlines()) == 1 and name in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_folder_with_bad_files_still_loads_the_good_ones(settings, garbage, tmp_path, capsys):
    folder = next(iter(garbage.values())).parent
    shutil.copy(BANK_FILES / "C2345633000022_20250301_BH.csv", folder)
    code = main(["--home", str(settings.home), "ingest", str(folder)])
    captured = capsys.readouterr()
    assert code == 1
    assert len(captured.err.strip().splitlines()) == len(garbage)
    con = warehouse.connect(settings)
    try:
        assert con.execute("SELECT file_name, rows_loaded FROM files").fetchall() == [
            ("C2345633000022_20250301_BH.csv", 3)
        ]
        assert con.execute("SELECT count(*) FROM payments").fetchone()[0] == 3
    finally:
        con.close()


def test_missing_path_is_reported(settings, tmp_path, capsys):
    assert main(["--home", str(settings.home), "ingest", str(tmp_path / "nowhere.csv")]) == 1
    assert "nowhere.csv" in capsys.readouterr().err
