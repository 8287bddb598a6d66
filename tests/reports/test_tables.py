"""The one table writer: Chinese readable in Excel (BOM), keys in the header, formula injection neutralised."""

from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from pipelines.errors import FundflowError
from reports.tables import Column, write_table

COLUMNS = (Column("rule_id", "规则编号"), Column("reason_zh", "预警原因"), Column("score", "分值"))
DANGEROUS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\x01=1+1"]
# Control characters, escapes and bidi overrides a crafted bank field may carry, and what an export keeps.
CONTROLLED = {
    "\x1b[31m赵一\x1b[0m": "[31m赵一[0m",
    "账户\x00\x07\x08备注": "账户备注",
    "\u202egnp.exe": "gnp.exe",
    "第一行\r\n第二行\x85": "第一行\n第二行",
    "\rCR": "CR",
    "\x7f\x9bA\u2066B\u2069": "AB",
    "制表\t保留": "制表\t保留",
}


def test_csv_has_bom_keys_and_quoted_formulas(tmp_path):
    path = tmp_path / "alerts.csv"
    rows = [{"rule_id": "T1", "reason_zh": text, "score": 1.5} for text in DANGEROUS]
    rows.append({"rule_id": "T2", "reason_zh": "30 天内 212 名个人转入", "score": -3})
    digest = write_table(path, COLUMNS, rows)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and len(digest) == 64
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.DictReader(handle))
    # a control character before "=" is removed first, so the formula guard still sees the "="
    assert [row["reason_zh"] for row in read[:-1]] == ["'" + text.lstrip("\x01") for text in DANGEROUS]
    assert read[-1] == {"rule_id": "T2", "reason_zh": "30 天内 212 名个人转入", "score": "-3"}


def test_xlsx_stores_formula_like_text_as_plain_strings(tmp_path):
    path = tmp_path / "alerts.xlsx"
    write_table(path, COLUMNS, [{"rule_id": "T1", "reason_zh": text, "score": 2} for text in DANGEROUS])
    sheet = load_workbook(path).active
    assert [cell.value for cell in sheet[1]] == ["规则编号", "预警原因", "分值"]
    assert [cell.value for cell in sheet[2]] == ["rule_id", "reason_zh", "score"]
    cells = [sheet.cell(row=row, column=2) for row in range(3, 3 + len(DANGEROUS))]
    # XML keeps no bare carriage return: it reads back as a line feed, still text
    assert [cell.value for cell in cells] == [text.lstrip("\x01") for text in DANGEROUS]
    assert all(cell.data_type == "s" for cell in cells)
    assert sheet.cell(row=3, column=3).value == 2


def test_other_formats_are_refused(tmp_path):
    with pytest.raises(FundflowError, match="csv 或 .xlsx"):
        write_table(tmp_path / "alerts.pdf", COLUMNS, [])


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_exports_strip_control_characters_and_bidi_overrides(tmp_path, suffix):
    path = tmp_path / f"alerts{suffix}"
    rows = [{"rule_id": "T1", "reason_zh": text, "score": 1} for text in CONTROLLED]
    write_table(path, COLUMNS, rows)
    if suffix == ".csv":
        raw = path.read_text(encoding="utf-8-sig")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            written = [row["reason_zh"] for row in csv.DictReader(handle)]
    else:
        sheet = load_workbook(path).active
        written = [sheet.cell(row=row, column=2).value for row in range(3, 3 + len(CONTROLLED))]
        raw = "".join(str(value) for value in written)
    assert written == list(CONTROLLED.values())
    assert not set(raw) & {"\x1b", "\x00", "\x07", "\u202e", "\x85", "\x9b"}
