"""The rule pack as data: every problem in a broken pack is refused with a message naming the file and field,
before any alert is written; a threshold changed in YAML changes the result with no code change."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from detectors import fan_in
from detectors.pack import RulePackInvalid, load_rule_pack
from pipelines.detection.runner import run_detection
from pipelines.errors import RulePackError
from pipelines.warehouse import db as warehouse
from tests.builders import add_payments, day, pay

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    copied = tmp_path / "rules"
    shutil.copytree(RULES, copied)
    return copied


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(RulePackInvalid) as refused:
        load_rule_pack(folder)
    return refused.value.problems


def test_the_shipped_pack_loads_with_its_hash():
    pack = load_rule_pack(RULES)
    ids = {rule.rule_id for rule in pack.rules}
    assert {"T1", "T2", "T4", "T5", "T6", "T7", "T8", "T10", "T11", "T12", "T13", "T14"} <= ids
    assert "复投" in pack.keywords
    assert len(pack.content_hash) == 64 and load_rule_pack(RULES).content_hash == pack.content_hash


def test_every_problem_is_listed_with_its_file_and_a_suggestion(pack_dir):
    edit(pack_dir / "t1_fan_in.yaml", "min_payers: 30", "min_payer: 30")
    edit(pack_dir / "t6_elderly_payers.yaml", "min_age: 60", "min_age: sixty")
    assert problems_of(pack_dir) == [
        "rules/t1_fan_in.yaml: params.min_payer: 未知参数 / unknown parameter 'min_payer'. Did you mean min_payers?",
        "rules/t1_fan_in.yaml: params.min_payers: 缺少参数 / missing parameter",
        "rules/t6_elderly_payers.yaml: params.min_age: 类型错误 / expected a whole number, got 'sixty'",
    ]


def test_unknown_detector_is_refused(pack_dir):
    edit(pack_dir / "t2_pass_through.yaml", "detector: pass_through", "detector: pass_thru")
    assert problems_of(pack_dir) == [
        "rules/t2_pass_through.yaml: detector: 未知检测器 / unknown detector 'pass_thru'. Did you mean pass_through?"
    ]


def test_duplicate_rule_id_is_refused(pack_dir):
    shutil.copy(pack_dir / "t4_round_amounts.yaml", pack_dir / "t4_copy.yaml")
    assert problems_of(pack_dir) == [
        "rules/t4_round_amounts.yaml: id: 规则编号重复 / duplicate rule id 'T4' (also in rules/t4_copy.yaml)"
    ]


def test_missing_keywords_file_is_refused(pack_dir):
    (pack_dir / "keywords.yaml").unlink()
    assert problems_of(pack_dir) == ["rules/keywords.yaml: 文件缺失 / file missing"]


def test_invalid_keyword_regex_is_refused(pack_dir):
    edit(pack_dir / "keywords.yaml", "  - 复投\n", "  - 复投(\n")
    [problem] = problems_of(pack_dir)
    assert problem.startswith("rules/keywords.yaml: memo_keywords: 正则无效 / invalid regular expression '复投('")


def test_unreadable_yaml_is_refused(pack_dir):
    (pack_dir / "t8_night_activity.yaml").write_text("id: T8\nparams: [unclosed\n", encoding="utf-8")
    [problem] = problems_of(pack_dir)
    assert problem.startswith("rules/t8_night_activity.yaml: YAML 格式错误 / invalid YAML")


def test_shared_list_set_in_a_rule_is_refused(pack_dir):
    edit(pack_dir / "t5_memo_keywords.yaml", "  min_hits: 5\n", "  min_hits: 5\n  memo_keywords: [x]\n")
    assert problems_of(pack_dir) == [
        "rules/t5_memo_keywords.yaml: params.memo_keywords: 在 keywords.yaml 中设置 / set in keywords.yaml, not here"
    ]


def collection_hub(con, payers: int) -> None:
    rows = [pay(f"P{i}", "HUB", 25_000, day(60 + i % 25)) for i in range(payers)]
    rows.append(pay("HUB", "BOSS", payers * 22_000, day(86)))
    add_payments(con, rows)


def alerts_in(settings) -> list[tuple]:
    con = warehouse.connect(settings)
    try:
        return con.execute("SELECT rule_id, subject FROM alerts ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_bad_pack_refuses_the_run_and_writes_no_alert(settings, warehouse, pack_dir):
    collection_hub(warehouse, 40)
    edit(pack_dir / "t1_fan_in.yaml", "min_payers: 30", "min_payer: 30")
    with pytest.raises(RulePackError) as refused:
        run_detection(dataclasses.replace(settings, rules_dir=pack_dir), con=warehouse)
    assert "rules/t1_fan_in.yaml: params.min_payer: 未知参数 / unknown parameter 'min_payer'" in str(refused.value)
    assert warehouse.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
    assert warehouse.execute("SELECT status, error LIKE '%min_payer%' FROM runs").fetchall() == [("failed", True)]


def test_sql_error_is_refused_naming_the_rule_and_writes_no_alert(settings, warehouse, monkeypatch):
    collection_hub(warehouse, 40)
    monkeypatch.setattr(fan_in, "SQL", "SELECT account FROM no_such_table")
    with pytest.raises(RulePackError) as refused:
        run_detection(settings, con=warehouse)
    [problem] = refused.value.problems
    assert problem.startswith(
        "rules/t1_fan_in.yaml: T1: 检测器 fan_in 的 SQL 执行失败 / SQL of detector 'fan_in' "
        "failed: Catalog Error: Table with name no_such_table does not exist"
    )
    assert warehouse.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
    assert warehouse.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_threshold_changed_in_yaml_changes_the_result(settings, warehouse, pack_dir):
    collection_hub(warehouse, 25)
    default = run_detection(settings, con=warehouse)
    assert "T1" not in {alert.rule_id for alert in default.alerts}
    edit(pack_dir / "t1_fan_in.yaml", "min_payers: 30", "min_payers: 20")
    tuned = run_detection(dataclasses.replace(settings, rules_dir=pack_dir), con=warehouse)
    assert [alert.subject for alert in tuned.alerts if alert.rule_id == "T1"] == ["HUB"]
    assert tuned.rule_pack_hash != default.rule_pack_hash


def test_the_lead_policy_is_checked_with_the_pack(pack_dir):
    policy = load_rule_pack(pack_dir).leads
    assert policy.opening_rules == ("T1", "T2", "T3", "G5") and policy.opening_min_amount_cny == 500_000
    assert "养老" in policy.sector_words["elderly_care"]
    edit(pack_dir / "leads.yaml", "rules: [T1, T2, T3, G5]", "rules: [T1, T99]")
    edit(pack_dir / "leads.yaml", "min_amount_cny: 500000", "min_amount_cny: lots")
    edit(pack_dir / "leads.yaml", "cross_province_min: 2", "cross_provinces_min: 2")
    assert problems_of(pack_dir) == [
        "rules/leads.yaml: opening.rules: 未知规则 / unknown rule 'T99'. Did you mean T9?",
        "rules/leads.yaml: opening.min_amount_cny: 应为非负数 / must be a non-negative number, got 'lots'",
        "rules/leads.yaml: priority.cross_provinces_min: 未知参数 / unknown field. Did you mean cross_province_min?",
        "rules/leads.yaml: priority.cross_province_min: 缺少 / missing",
    ]
