"""`fundflow tips import|list|show|…`: the hotline's spreadsheet (CSV in GB18030, XLSX) registered once however
often it is loaded, bad rows quarantined with file, row and field, the reporter masked in every listing."""

from __future__ import annotations

import csv
import json

import openpyxl
import pytest
import sqlalchemy as sa

from pipelines.cases import tips
from pipelines.cases.store import CaseStore, audit, tip_quarantine
from pipelines.cli import main
from pipelines.warehouse import db as warehouse
from tests.pipelines.cases.test_lifecycle import PEOPLE

HEADER = ["受理时间", "渠道", "举报人", "联系电话", "证件号码", "被举报对象", "涉及账号", "涉及电话", "举报内容"]
ROWS = [
    [
        "2025-04-02 09:30:00",
        "电话",
        "王秀英",
        "13588889999",
        "330782195203041527",
        "福寿康养老合作社、张三",
        "",
        "",
        "承诺年息12%",
    ],
    ["2025/04/03 14:00", "网络", "", "", "", "", "", "139 0576 1234", "微信群里推销养老公寓"],
    ["2025-04-04 10:00:00", "信函", "李四", "", "", "鑫源投资有限公司", "", "", ""],  # no content
    ["昨天", "传真", "", "", "", "", "", "", "收钱不给票"],  # bad time, unknown channel
]
PHONE_ACCOUNT = "6228480000000000042"


@pytest.fixture
def home(settings):
    store = CaseStore.open(settings)
    for name, role in PEOPLE:
        store.add_user(name, role)
    store.close()
    con = warehouse.connect(settings)
    con.execute(
        "INSERT INTO parties (account_no, holder_name, holder_kind, holder_phone) VALUES (?, '惠民农业专业合作社', 'ORG', ?)",
        [PHONE_ACCOUNT, "13905761234"],
    )
    con.close()
    return settings


def write_csv(path, rows, encoding="gb18030"):
    with open(path, "w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


def run(home, *argv) -> int:
    return main(["--home", str(home.home), *argv])


def test_loading_the_same_sheet_twice_registers_each_tip_once_and_quarantines_bad_rows(home, tmp_path, capsys):
    sheet = write_csv(tmp_path / "举报登记.csv", ROWS)
    assert run(home, "tips", "import", str(sheet)) == 0
    out = capsys.readouterr().out
    assert "登记 2 条" in out and "隔离 2 行" in out
    assert "第 4 行" in out and "[content]" in out and "第 5 行" in out and "[received_at]" in out
    assert "[channel]" in out
    assert run(home, "tips", "import", str(sheet)) == 0
    assert "重复文件" in capsys.readouterr().out
    # the same rows in another file (an XLSX copy) are the same tips
    book = openpyxl.Workbook()
    for row in [HEADER, *ROWS[:2]]:
        book.active.append(row)
    book.save(tmp_path / "copy.xlsx")
    assert run(home, "tips", "import", str(tmp_path / "copy.xlsx")) == 0
    assert "登记 0 条，重复 2 条" in capsys.readouterr().out
    store = CaseStore.open(home)
    found = tips.list_tips(store)
    assert len(found) == 2
    with store.read() as conn:
        held = conn.execute(sa.select(tip_quarantine).order_by(tip_quarantine.c.row_no)).mappings().all()
        imports = conn.execute(sa.select(audit.c.file_sha256).where(audit.c.action == "tip_import")).all()
    store.close()
    assert [(q["row_no"], q["field"]) for q in held] == [(4, "content"), (5, "received_at"), (5, "channel")]
    assert "必填" in held[0]["reason"] and "13588889999" not in json.dumps(held[0]["raw"], ensure_ascii=False)
    assert len(imports) == 2


def test_import_matches_the_new_tips_and_list_and_show_mask_the_reporter(home, tmp_path, capsys):
    sheet = write_csv(tmp_path / "tips.csv", ROWS[:2], encoding="utf-8")
    assert run(home, "tips", "import", str(sheet)) == 0
    capsys.readouterr()
    assert run(home, "tips", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    text = json.dumps(listed, ensure_ascii=False)
    assert "13588889999" not in text and "330782195203041527" not in text and "王秀英" not in text
    assert listed[0]["reporter_phone"] == "135****9999"
    by_state = {t["tip_id"]: t["match_state"] for t in listed}
    assert sorted(by_state.values()) == ["ACCOUNTS", "NONE"]
    phone_tip = next(tip_id for tip_id, state in by_state.items() if state == "ACCOUNTS")
    assert run(home, "tips", "show", phone_tip) == 0
    shown = capsys.readouterr().out
    assert "622848*********0042" in shown and PHONE_ACCOUNT not in shown and "139****1234" in shown
    assert run(home, "tips", "list") == 0
    table = capsys.readouterr().out
    assert "王*英" in table and "13588889999" not in table


def test_the_procedure_and_reveal_from_the_terminal(home, tmp_path, capsys):
    run(home, "tips", "import", str(write_csv(tmp_path / "t.csv", ROWS[:1])))
    (tip_id,) = [t["tip_id"] for t in tips.list_tips(CaseStore.open(home))]
    assert run(home, "tips", "move", tip_id, "核实", "--user", "ana", "--note", "回访") == 0
    assert run(home, "tips", "reveal", tip_id, "--user", "ana", "--reason", "看看") == 1
    assert "分析员" in capsys.readouterr().err
    assert run(home, "tips", "reveal", tip_id, "--user", "sup", "--reason", "须回访举报人") == 0
    assert "13588889999" in capsys.readouterr().out
    assert run(home, "tips", "answer", tip_id, "--user", "ana", "--note", "已核查，谢谢") == 0
    assert run(home, "tips", "reward", tip_id, "GRANT", "--amount", "500", "--user", "sup", "--note", "属实") == 0
    assert run(home, "tips", "paid", "1", "--date", "2025-05-01", "--user", "sup", "--note", "已转账") == 0
    capsys.readouterr()
    assert run(home, "tips", "show", tip_id) == 0
    shown = capsys.readouterr().out
    assert "反馈 ANSWERED" in shown and "已核查，谢谢" in shown and "2025-05-01" in shown


def test_a_sheet_without_the_required_columns_fails_whole_naming_them(home, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("渠道,举报人\n电话,王五\n", encoding="utf-8")
    assert run(home, "tips", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and "受理时间" in err and "举报内容" in err
