"""The lead lifecycle of DOMAIN §6.3: every allowed move, the refused ones, roles, and the two-person close-out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from pipelines.cases import lifecycle
from pipelines.cases.lifecycle import (
    ALLOWED,
    add_measure,
    allowed_moves,
    assign,
    complete_measure,
    confirm_close,
    move,
    propose_close,
)
from pipelines.cases.store import CaseStore, leads
from pipelines.errors import LifecycleError, NotFoundError

DUE = date(2030, 1, 31)
PEOPLE = (
    ("ana", "analyst"),
    ("bob", "analyst"),
    ("rev", "reviewer"),
    ("rev2", "reviewer"),
    ("sup", "supervisor"),
    ("aud", "auditor"),
    ("adm", "admin"),
)


def make_lead(store: CaseStore, lead_id: str = "XS2025-000001") -> str:
    """A bare NEW lead, as publishing would leave it, without needing a warehouse."""
    now = store.now()
    with store.write() as conn:
        conn.execute(
            leads.insert().values(
                lead_id=lead_id,
                ring_key=lead_id,
                status="NEW",
                source="model",
                total_in=1_000_000,
                total_out=900_000,
                individual_payers=40,
                elderly_share=0.4,
                provinces=["33"],
                province_stats={},
                typologies=["fan_in"],
                rule_ids=["T1", "T6"],
                sectors=[],
                keywords=[],
                priority=[],
                score=0.8,
                narrative="资金流向",
                reasons=[{"rule_id": "T1", "zh": "分散转入", "en": "fan-in"}],
                created_at=now,
                updated_at=now,
            )
        )
        store.append_event(conn, lead_id, "system", "created", "模型生成", None, "NEW")
    return lead_id


@pytest.fixture
def lead(store):
    return make_lead(store)


def status(store: CaseStore, lead_id: str) -> str:
    return store.get_lead(lead_id)["status"]


def to_triage(store, lead_id):
    assign(store, lead_id, "ana", "sup", "分配初核")


def to_consultation(store, lead_id):
    to_triage(store, lead_id)
    move(store, lead_id, "CONSULTATION", "ana", "初核报告：符合集资特征")


def close_by_two(store, lead_id, proposer="ana", confirmer="rev"):
    propose_close(store, lead_id, proposer, "提出销号")
    confirm_close(store, lead_id, confirmer, "复核同意")


# --- each row of the §6.3 table ------------------------------------------------------------------------


def test_new_to_triage_needs_an_assignee_and_sets_the_due_date(store, lead):
    with pytest.raises(LifecycleError, match="承办人"):
        move(store, lead, "TRIAGE", "ana", "开始初核")
    assign(store, lead, "bob", "ana", "分配初核")
    found = store.get_lead(lead)
    assert (found["status"], found["assignee"]) == ("TRIAGE", "bob")
    assert found["due_date"] == store.today() + timedelta(days=lifecycle.TRIAGE_DAYS)
    event = found["events"][-1]
    assert (event["user"], event["action"], event["from_status"], event["to_status"], event["note"]) == (
        "ana",
        "move",
        "NEW",
        "TRIAGE",
        "分配初核",
    )


def test_new_to_triage_by_move_with_an_assignee(store, lead):
    move(store, lead, "TRIAGE", "ana", "开始初核", assignee="ana", due=DUE)
    assert store.get_lead(lead)["due_date"] == DUE


@pytest.mark.parametrize("start", ["NEW", "TRIAGE"])
def test_new_or_triage_to_merged_needs_an_open_target(store, lead, start):
    target = make_lead(store, "XS2025-000002")
    if start == "TRIAGE":
        to_triage(store, lead)
    with pytest.raises(LifecycleError, match="合并到哪条"):
        move(store, lead, "MERGED", "ana", "重复")
    with pytest.raises(LifecycleError, match="自身"):
        move(store, lead, "MERGED", "ana", "重复", merge_into=lead)
    with pytest.raises(NotFoundError):
        move(store, lead, "MERGED", "ana", "重复", merge_into="XS2025-999999")
    move(store, lead, "MERGED", "ana", "同一主体", merge_into=target)
    merged = store.get_lead(lead)
    assert (merged["status"], merged["merged_into"]) == ("MERGED", target)
    assert store.get_lead(target)["events"][-1]["action"] == "merge_in"
    assert allowed_moves(merged) == []


def test_triage_to_closed_is_an_exclusion_signed_off_by_a_reviewer(store, lead):
    to_triage(store, lead)
    with pytest.raises(LifecycleError, match="提出销号"):
        move(store, lead, "CLOSED", "rev", "排除")
    propose_close(store, lead, "ana", "排除：正常经营收款，有合同")
    assert store.get_lead(lead)["status"] == "TRIAGE"
    with pytest.raises(LifecycleError, match="分析员"):
        confirm_close(store, lead, "bob", "同意")
    with pytest.raises(LifecycleError, match="确认"):
        propose_close(store, lead, "rev", "再提一次")
    confirm_close(store, lead, "rev", "复核同意排除")
    closed = store.get_lead(lead)
    assert closed["status"] == "CLOSED" and closed["closed_at"] is not None
    assert closed["events"][-1]["detail"]["proposed_by"] == "ana"


def test_triage_to_consultation(store, lead):
    to_consultation(store, lead)
    assert status(store, lead) == "CONSULTATION"


def test_triage_to_disposition_is_a_direct_police_transfer(store, lead):
    to_triage(store, lead)
    with pytest.raises(LifecycleError, match="处置事项"):
        move(store, lead, "DISPOSITION", "rev", "案情紧急，直接移送")
    add_measure(store, lead, "POLICE_TRANSFER", "ana", "资金外逃风险", DUE)
    move(store, lead, "DISPOSITION", "rev", "案情紧急，直接移送")
    assert status(store, lead) == "DISPOSITION"


def test_consultation_to_not_illegal_to_closed(store, lead):
    to_consultation(store, lead)
    move(store, lead, "NOT_ILLEGAL", "rev", "会商：不构成非法集资，风险提示")
    assert status(store, lead) == "NOT_ILLEGAL"
    close_by_two(store, lead, proposer="rev", confirmer="sup")
    assert status(store, lead) == "CLOSED"


def test_consultation_to_determined_illegal(store, lead):
    to_consultation(store, lead)
    move(store, lead, "DETERMINED_ILLEGAL", "sup", "认定意见：县政府 2025-05-01 会商认定")
    assert status(store, lead) == "DETERMINED_ILLEGAL"


@pytest.mark.parametrize("start", ["CONSULTATION", "TRIAGE"])
def test_regularisation_needs_a_warning_talk_or_rectification_with_a_deadline(store, lead, start):
    to_consultation(store, lead) if start == "CONSULTATION" else to_triage(store, lead)
    add_measure(store, lead, "FINE", "ana", "罚款", DUE)  # an ADMIN measure is not regularisation
    with pytest.raises(LifecycleError, match="规范整改"):
        move(store, lead, "DISPOSITION", "rev", "规范整改")
    add_measure(store, lead, "责令整改", "ana", "限期 30 日整改", DUE)
    move(store, lead, "DISPOSITION", "rev", "规范整改")
    assert status(store, lead) == "DISPOSITION"


def test_consultation_cannot_go_to_disposition_by_police_transfer_alone(store, lead):
    to_consultation(store, lead)
    add_measure(store, lead, "POLICE_TRANSFER", "ana", "移送", DUE)
    with pytest.raises(LifecycleError, match="REGULATE"):
        move(store, lead, "DISPOSITION", "rev", "移送")


def test_determined_illegal_to_disposition_needs_at_least_one_measure(store, lead):
    to_consultation(store, lead)
    move(store, lead, "DETERMINED_ILLEGAL", "sup", "认定非法集资")
    with pytest.raises(LifecycleError, match="处置事项"):
        move(store, lead, "DISPOSITION", "sup", "分类处置")
    add_measure(store, lead, "SEIZE_ASSETS", "ana", "查封扣押房产", DUE)
    move(store, lead, "DISPOSITION", "sup", "分类处置")
    assert status(store, lead) == "DISPOSITION"


def disposition_with_two_measures(store, lead) -> list[int]:
    to_consultation(store, lead)
    move(store, lead, "DETERMINED_ILLEGAL", "sup", "认定非法集资")
    ids = [
        add_measure(store, lead, "STOP_ORDER", "ana", "责令停止", DUE),
        add_measure(store, lead, "POLICE_TRANSFER", "ana", "移送公安", DUE),
    ]
    move(store, lead, "DISPOSITION", "sup", "分类处置")
    return ids


def test_disposition_closes_only_when_every_measure_is_done_and_a_second_reviewer_confirms(store, lead):
    stop, transfer = disposition_with_two_measures(store, lead)
    with pytest.raises(LifecycleError, match="2 项未销号"):
        propose_close(store, lead, "ana", "处置完毕")
    complete_measure(store, lead, stop, "ana", "已下达责令停止通知书")
    with pytest.raises(LifecycleError, match="移送文书编号"):
        complete_measure(store, lead, transfer, "ana", "已移送")
    with pytest.raises(LifecycleError, match="1 项未销号"):
        propose_close(store, lead, "ana", "处置完毕")
    complete_measure(store, lead, transfer, "ana", "公安已受理", transfer_no="X公移〔2025〕12号", amount=None)
    propose_close(store, lead, "rev", "台账全部销号")
    with pytest.raises(LifecycleError, match="提出人"):
        confirm_close(store, lead, "rev", "自己确认")
    with pytest.raises(LifecycleError, match="分析员"):
        confirm_close(store, lead, "ana", "分析员确认")
    confirm_close(store, lead, "rev2", "逐项核对，同意销号")
    closed = store.get_lead(lead)
    assert closed["status"] == "CLOSED"
    assert [m["status"] for m in closed["measures"]] == ["DONE", "DONE"]
    assert closed["measures"][1]["transfer_no"] == "X公移〔2025〕12号"
    assert closed["measures"][1]["transfer_date"] == store.today()


def test_a_measure_added_after_the_proposal_blocks_the_confirmation(store, lead):
    (stop, transfer) = disposition_with_two_measures(store, lead)
    complete_measure(store, lead, stop, "ana", "已停止")
    complete_measure(store, lead, transfer, "ana", "已移送", transfer_no="N1")
    propose_close(store, lead, "ana", "销号")
    add_measure(store, lead, "SUPERVISE_REPAY", "ana", "监督清退", DUE)
    with pytest.raises(LifecycleError, match="1 项未销号"):
        confirm_close(store, lead, "rev", "同意")


@pytest.mark.parametrize("start", ["NEW", "TRIAGE", "CONSULTATION"])
def test_on_hold_returns_only_to_the_status_it_left_with_the_due_date_pushed(store, lead, start):
    if start == "TRIAGE":
        to_triage(store, lead)
    elif start == "CONSULTATION":
        to_consultation(store, lead)
    move(store, lead, "ON_HOLD", "ana", "等待银行补充数据")
    held = store.get_lead(lead)
    assert (held["status"], held["hold_from"]) == ("ON_HOLD", start)
    assert allowed_moves(held) == [start]
    other = "CONSULTATION" if start != "CONSULTATION" else "TRIAGE"
    with pytest.raises(LifecycleError, match="原状态"):
        move(store, lead, other, "ana", "继续")
    # five days on hold: the clock pauses for them
    with store.write() as conn:
        conn.execute(leads.update().values(hold_since=held["hold_since"] - timedelta(days=5)))
    move(store, lead, start, "ana", "数据已到")
    back = store.get_lead(lead)
    assert (back["status"], back["hold_from"]) == (start, None)
    if held["due_date"]:
        assert back["due_date"] == held["due_date"] + timedelta(days=5)
        assert back["events"][-1]["detail"]["paused_days"] == 5


# --- refusals ----------------------------------------------------------------------------------------


def test_an_illegal_move_is_refused_with_the_allowed_ones_listed_in_chinese(store, lead):
    with pytest.raises(LifecycleError) as refused:
        move(store, lead, "DISPOSITION", "sup", "跳过初核")
    message = str(refused.value)
    assert "不能从「新线索」转为「分类处置」" in message
    assert "初核 TRIAGE" in message and "已合并 MERGED" in message and "挂起 ON_HOLD" in message
    assert "\n" not in message
    assert status(store, lead) == "NEW" and len(store.get_lead(lead)["events"]) == 1


def test_closed_leads_do_not_move(store, lead):
    to_triage(store, lead)
    close_by_two(store, lead)
    with pytest.raises(LifecycleError, match="allowed: 无 / none"):
        move(store, lead, "TRIAGE", "sup", "重新打开")


def test_every_move_needs_a_known_active_user_with_a_role_and_a_note(store, lead):
    with pytest.raises(LifecycleError, match="note"):
        assign(store, lead, "ana", "sup", "  ")
    with pytest.raises(LifecycleError, match="user"):
        assign(store, lead, "ana", None, "分配")
    with pytest.raises(NotFoundError, match="未知用户"):
        assign(store, lead, "ana", "nobody", "分配")
    for name in ("aud", "adm"):
        with pytest.raises(LifecycleError, match="role"):
            assign(store, lead, "ana", name, "分配")
    with pytest.raises(LifecycleError, match="cannot take leads"):
        assign(store, lead, "aud", "sup", "分配给审计员")
    with store.write() as conn:
        conn.execute(sa.text("UPDATE users SET disabled = :yes WHERE name = 'bob'"), {"yes": True})
    with pytest.raises(LifecycleError, match="disabled"):
        assign(store, lead, "ana", "bob", "分配")
    assert status(store, lead) == "NEW" and len(store.get_lead(lead)["events"]) == 1


def test_analysts_may_not_determine_or_dispose(store, lead):
    to_consultation(store, lead)
    with pytest.raises(LifecycleError, match="角色「分析员」"):
        move(store, lead, "DETERMINED_ILLEGAL", "ana", "认定")


def test_a_stale_expected_status_is_refused(store, lead):
    to_triage(store, lead)
    with pytest.raises(LifecycleError, match="已被他人改为「初核」"):
        move(store, lead, "ON_HOLD", "ana", "挂起", expected_status="NEW")


def test_reassigning_an_open_lead_keeps_its_status(store, lead):
    to_consultation(store, lead)
    assign(store, lead, "bob", "ana", "转交", due=DUE)
    found = store.get_lead(lead)
    assert (found["status"], found["assignee"], found["due_date"]) == ("CONSULTATION", "bob", DUE)
    assert found["events"][-1]["action"] == "assign"


def test_measures_need_a_known_kind_a_due_date_and_an_editable_status(store, lead):
    with pytest.raises(LifecycleError, match="measures can be added in"):
        add_measure(store, lead, "FINE", "ana", "罚款", DUE)
    to_triage(store, lead)
    with pytest.raises(LifecycleError, match="unknown measure"):
        add_measure(store, lead, "坐牢", "ana", "?", DUE)
    with pytest.raises(LifecycleError, match="due date"):
        add_measure(store, lead, "FINE", "ana", "罚款", None)
    measure_id = add_measure(store, lead, "罚款", "ana", "罚款", DUE)
    complete_measure(store, lead, measure_id, "ana", "已缴纳", amount=200_000)
    with pytest.raises(LifecycleError, match="already done"):
        complete_measure(store, lead, measure_id, "ana", "再销一次")
    assert float(store.get_lead(lead)["measures"][0]["amount"]) == 200_000


# --- the table is covered ------------------------------------------------------------------------------


def test_the_paths_above_cover_every_row_of_the_transition_table(store):
    """Runs each path once and checks that, together, they made every (from, to) move the table allows."""
    paths = [
        lambda lead: (to_triage(store, lead), close_by_two(store, lead)),
        lambda lead: move(store, lead, "MERGED", "ana", "重复", merge_into="XS2025-000100"),
        lambda lead: (to_triage(store, lead), move(store, lead, "MERGED", "ana", "重复", merge_into="XS2025-000100")),
        lambda lead: (
            to_consultation(store, lead),
            move(store, lead, "NOT_ILLEGAL", "rev", "不构成"),
            close_by_two(store, lead),
        ),
        lambda lead: disposition_with_two_measures(store, lead),
        lambda lead: (
            to_triage(store, lead),
            add_measure(store, lead, "WARNING_TALK", "ana", "约谈", DUE),
            move(store, lead, "DISPOSITION", "rev", "规范"),
        ),
        lambda lead: (
            to_consultation(store, lead),
            add_measure(store, lead, "RECTIFY", "ana", "整改", DUE),
            move(store, lead, "DISPOSITION", "rev", "规范"),
        ),
    ]
    make_lead(store, "XS2025-000100")
    for number, path in enumerate(paths, start=1):
        path(make_lead(store, f"XS2025-{number:06d}"))
    done_measures = make_lead(store, "XS2025-000050")
    ids = disposition_with_two_measures(store, done_measures)
    complete_measure(store, done_measures, ids[0], "ana", "完成")
    complete_measure(store, done_measures, ids[1], "ana", "完成", transfer_no="N")
    close_by_two(store, done_measures)
    for index, start in enumerate(lifecycle.OPEN_STATUSES):
        held = make_lead(store, f"XS2025-{300 + index:06d}")
        reach = {
            "NEW": [],
            "TRIAGE": [to_triage],
            "CONSULTATION": [to_consultation],
            "NOT_ILLEGAL": [to_consultation, lambda s, lead: move(s, lead, "NOT_ILLEGAL", "rev", "不构成")],
            "DETERMINED_ILLEGAL": [to_consultation, lambda s, lead: move(s, lead, "DETERMINED_ILLEGAL", "rev", "认定")],
            "DISPOSITION": [disposition_with_two_measures],
        }[start]
        for step in reach:
            step(store, held)
        move(store, held, "ON_HOLD", "ana", "挂起")
        move(store, held, start, "ana", "恢复")
    with store.read() as conn:
        made = {
            (f, t) for f, t in conn.execute(sa.text("SELECT from_status, to_status FROM events WHERE action = 'move'"))
        }
    table = {(f, t) for f, targets in ALLOWED.items() for t in targets}
    assert made == table
