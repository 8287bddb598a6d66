"""`fundflow leads …` from the terminal: Chinese tables, masked numbers, refusals as one line, verify's exit code."""

from __future__ import annotations

import json

import pytest

from pipelines.cases.publish import publish_run
from pipelines.cases.store import CaseStore
from pipelines.cli import main
from tests.pipelines.cases.test_lifecycle import PEOPLE
from tests.pipelines.cases.test_publish import CASHER, COLLECTOR, HUB, add_ring, build_warehouse, seed_payments

RAW_NUMBERS = (HUB, COLLECTOR, CASHER, "91330782MA2ABCDE1X", "62170000000000000001")


@pytest.fixture
def lead_id(settings):
    store = CaseStore.open(settings)
    for name, role in PEOPLE:
        store.add_user(name, role)
    con = build_warehouse()
    seed_payments(con)
    add_ring(con, "run1")
    found = publish_run(settings, con, "run1", store).lead_ids[0]
    store.close()
    con.close()
    return found


def run(settings, capsys, *argv) -> tuple[int, str, str]:
    code = main(["--home", str(settings.home), "leads", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_is_a_chinese_table_without_raw_numbers(settings, capsys, lead_id):
    code, out, _ = run(settings, capsys, "list")
    assert code == 0
    ranking_line, header = out.splitlines()[:2]
    assert ranking_line.startswith("排序 / ranking: 规则排序 rules")
    for label in ("线索编号", "状态", "评分", "参与人数", "转入金额", "手法", "承办人"):
        assert label in header
    assert lead_id in out and "新线索" in out and "¥800,000" in out and "跨省" in out and "分散转入集中转出" in out
    assert not any(number in out for number in RAW_NUMBERS)


def test_list_filters_by_status_code_or_label_and_speaks_json(settings, capsys, lead_id):
    assert "没有线索" in run(settings, capsys, "list", "--status", "初核")[1]
    assert lead_id in run(settings, capsys, "list", "--status", "new")[1]
    code, out, _ = run(settings, capsys, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [row["lead_id"] for row in rows] == [lead_id]
    assert rows[0]["status_label"] == "新线索" and rows[0]["hub_account"] == "622202*********0018"
    assert not any(number in out for number in RAW_NUMBERS)
    code, _, err = run(settings, capsys, "list", "--status", "OPEN")
    assert code == 1 and "未知状态" in err


def test_show_gives_narrative_reasons_masked_accounts_and_next_moves(settings, capsys, lead_id):
    code, out, _ = run(settings, capsys, "show", lead_id)
    assert code == 0
    for text in (
        "资金流向",
        "来自 40 名个人",
        "[T1]",
        "资金归集账户",
        "622202*********0026",
        "张*明",
        "处理记录",
        "可转为：初核 TRIAGE、已合并 MERGED、挂起 ON_HOLD",
        "领域：养老",
    ):
        assert text in out
    assert not any(number in out for number in RAW_NUMBERS)
    code, out, _ = run(settings, capsys, "show", lead_id, "--json")
    shown = json.loads(out)
    # 53 of the ring's evidence and the cash withdrawal, now that evidence covers money out
    assert shown["accounts"][0]["account_no"].count("*") > 0 and len(shown["payments"]) == 54
    assert not any(number in out for number in RAW_NUMBERS)


def test_the_whole_procedure_from_the_terminal(settings, capsys, lead_id):
    assert run(settings, capsys, "assign", lead_id, "ana", "--user", "sup", "--note", "分配初核")[0] == 0
    code, _, err = run(settings, capsys, "move", lead_id, "CLOSED", "--user", "ana")
    assert code == 1 and "note" in err
    code, _, err = run(settings, capsys, "move", lead_id, "DETERMINED_ILLEGAL", "--user", "sup", "--note", "跳步")
    assert code == 1 and "可转为 / allowed: 会商研判 CONSULTATION" in err and len(err.strip().splitlines()) == 1
    assert (
        run(
            settings,
            capsys,
            "measure",
            lead_id,
            "add",
            "警示约谈",
            "--due",
            "2030-01-31",
            "--user",
            "ana",
            "--note",
            "约谈负责人",
        )[0]
        == 0
    )
    assert run(settings, capsys, "move", lead_id, "分类处置", "--user", "rev", "--note", "规范整改")[0] == 0
    code, _, err = run(settings, capsys, "measure", lead_id, "done", "1", "--user", "ana")
    assert code == 1 and "note" in err
    assert run(settings, capsys, "measure", lead_id, "done", "1", "--user", "ana", "--note", "已约谈，有笔录")[0] == 0
    code, out, _ = run(settings, capsys, "move", lead_id, "CLOSED", "--user", "ana", "--note", "台账已销号")
    assert code == 0 and "已提出销号" in out
    code, _, err = run(settings, capsys, "move", lead_id, "CLOSED", "--user", "ana", "--note", "自己确认")
    assert code == 1 and "role analyst may not move a lead to CLOSED" in err
    assert run(settings, capsys, "move", lead_id, "CLOSED", "--user", "rev", "--note", "同意销号")[0] == 0
    code, out, _ = run(settings, capsys, "show", lead_id)
    assert "【已销号】" in out and "#1 警示约谈（规范整改）" in out and "已销号" in out


def test_bad_commands_say_what_is_wrong_in_one_line(settings, capsys, lead_id):
    for argv, expected in (
        (["move", lead_id], "usage"),
        (["move", lead_id, "TRIAGE", "--user", "ghost", "--note", "x"], "未知用户"),
        (["show", "XS2025-999999"], "no such lead"),
        (["measure", lead_id, "add", "FINE", "--due", "31/01/2030", "--user", "ana", "--note", "x"], "YYYY-MM-DD"),
        (["measure", lead_id, "done", "abc", "--user", "ana", "--note", "x"], "number"),
    ):
        code, _, err = run(settings, capsys, *argv)
        assert code == 1 and expected in err and "Traceback" not in err


def test_verify_passes_then_names_the_tampered_event(settings, capsys, lead_id):
    run(settings, capsys, "assign", lead_id, "ana", "--user", "sup", "--note", "分配初核")
    code, out, _ = run(settings, capsys, "verify")
    assert code == 0 and "处理记录链完整：2 条" in out and "审计日志链完整" in out
    store = CaseStore.open(settings)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET note = '未分配' WHERE seq = 2")
    store.close()
    code, out, _ = run(settings, capsys, "verify")
    assert code == 1 and "第 2 条处被篡改" in out and "seq 2" in out
