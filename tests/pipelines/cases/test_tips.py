"""Public tips (群众举报): matching to a planted scheme's lead by a differently written name, to an account by a
phone, to nothing; a manual lead from a tip with evidence and a graph; the procedure, rewards, the reporter
masked and revealed only to a supervisor with a reason (audited)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from console import views
from pipelines.cases import tip_matching, tips
from pipelines.cases.publish import publish_run
from pipelines.cases.store import audit, events
from pipelines.errors import FundflowError, LifecycleError
from tests.pipelines.cases.test_publish import (
    HUB,
    OTHER_HUB,
    BoundParameters,
    add_ring,
    build_warehouse,
    seed_payments,
)

SCHEME_NAME = "福寿康养老服务专业合作社"
OTHER_PHONE = "13905761234"
REPORTER = {"reporter_name": "王秀英", "reporter_phone": "13588889999", "reporter_id_no": "330782195203041527"}


@pytest.fixture
def scheme():
    """A warehouse with one planted scheme (hub named SCHEME_NAME) and a second, unled account with a phone."""
    con = build_warehouse()
    con.execute("UPDATE parties SET holder_name = ? WHERE account_no = ?", [SCHEME_NAME, HUB])
    con.execute("UPDATE parties SET holder_phone = ? WHERE account_no = ?", [f"+86 {OTHER_PHONE}", OTHER_HUB])
    seed_payments(con)
    add_ring(con, "run1")
    yield con
    con.close()


@pytest.fixture
def lead_id(settings, store, scheme):
    result = publish_run(settings, scheme, "run1", store)
    return result.lead_ids[0]


def tip(**facts) -> tips.TipInput:
    base = {"received_at": datetime(2025, 4, 2, 9, 30), "content": "有人以养老公寓为名高息揽储，年息 12%", **REPORTER}
    return tips.TipInput(**(base | facts))


def test_a_company_written_differently_attaches_the_tip_to_the_schemes_lead(store, scheme, lead_id):
    tip_id = tips.register_tip(store, tip(companies=["福寿康 养老合作社"]), "ana")
    new = tip_matching.match_tip(store, scheme, tip_id, "ana")
    attached = [m for m in new if m.lead_id == lead_id]
    assert attached and attached[0].kind == "name" and attached[0].strength >= 0.85, new
    assert "福寿康养老" in attached[0].how
    lead = store.get_lead(lead_id)
    assert "tip_reported" in lead["priority"]
    attached_events = [e for e in lead["events"] if e["action"] == "tip_attached"]
    assert len(attached_events) == 1 and tip_id in attached_events[0]["note"]
    shown = tips.get_tip(store, tip_id)
    assert shown["match_state"] == "LEAD" and shown["lead_ids"] == [lead_id]
    # matching again finds nothing new and attaches nothing twice
    assert tip_matching.match_tip(store, scheme, tip_id, "ana") == []
    assert len([e for e in store.get_lead(lead_id)["events"] if e["action"] == "tip_attached"]) == 1


def test_normalising_drops_suffixes_spaces_and_full_width_forms():
    assert tip_matching.normalise_name("福寿康 养老服务专业合作社") == "福寿康养老"
    assert tip_matching.normalise_name("福寿康养老合作社") == "福寿康养老"
    assert tip_matching.normalise_name("ＡＢＣ（浙江）投资有限公司") == "ABC浙江投资"
    assert tip_matching.normalise_name("合作社") == "合作社"  # nothing left to name: kept whole


def test_a_tip_naming_only_a_phone_finds_the_account_that_carries_it(store, scheme, lead_id):
    tip_id = tips.register_tip(store, tip(phones=["139-0576-1234"]), "ana")
    new = tip_matching.match_tip(store, scheme, tip_id, "ana")
    assert [(m.kind, m.account_no, m.lead_id) for m in new] == [("phone", OTHER_HUB, None)]
    assert tips.get_tip(store, tip_id)["match_state"] == "ACCOUNTS"


def test_a_tip_matching_nothing_stays_to_verify(store, scheme, lead_id):
    tip_id = tips.register_tip(store, tip(companies=["鑫源文化传媒有限公司"], phones=["13000000000"]), "ana")
    assert tip_matching.match_tip(store, scheme, tip_id, "ana") == []
    found = tips.get_tip(store, tip_id)
    assert (found["match_state"], found["matches"], found["status"]) == ("NONE", [], "RECEIVED")


def test_a_manual_lead_from_a_tip_has_evidence_and_a_graph(store, scheme, lead_id):
    seed_payments(scheme, hub=OTHER_HUB, first=100, payers=15, memo="合作社入股分红")
    tip_id = tips.register_tip(store, tip(phones=[OTHER_PHONE]), "ana")
    tip_matching.match_tip(store, scheme, tip_id, "ana")
    with pytest.raises(LifecycleError, match="理由"):
        tip_matching.open_manual_lead(store, scheme, tip_id, "ana", "")
    with pytest.raises(LifecycleError, match="auditor|审计员"):
        tip_matching.open_manual_lead(store, scheme, tip_id, "aud", "看看")
    manual = tip_matching.open_manual_lead(store, scheme, tip_id, "ana", "举报人称该社承诺年息 12%")
    lead = store.get_lead(manual)
    assert lead["source"] == "manual" and lead["status"] == "NEW" and lead["hub_account"] == OTHER_HUB
    assert lead["individual_payers"] == 15 and float(lead["total_in"]) == 15 * 20_000
    assert {a["role"] for a in lead["accounts"]} >= {"hub", "investor"}
    assert len(lead["payments"]) >= 15 and lead["narrative"].startswith("20")
    assert "tip_reported" in lead["priority"]
    created = lead["events"][0]
    assert (created["action"], created["user"]) == ("created", "ana") and tip_id in created["note"]
    graph = views.graph(lead, "secret")
    assert len(graph["nodes"]) >= 2 and graph["edges"], graph
    assert tips.get_tip(store, tip_id)["lead_ids"] == [manual]
    with pytest.raises(LifecycleError, match="已关联线索"):
        tip_matching.open_manual_lead(store, scheme, tip_id, "ana", "again")


def test_matching_a_tip_and_opening_its_manual_lead_bind_no_list(store, scheme, lead_id):
    # Issue 14: DuckDB binding a Python list parameter tries to import pandas twice per element; the tip's
    # numbers and names, and the manual lead's accounts, reach the warehouse through Arrow instead.
    seed_payments(scheme, hub=OTHER_HUB, first=100, payers=15, memo="合作社入股分红")
    facts = {"accounts": [HUB], "phones": [OTHER_PHONE], "people": ["王秀英"], "id_nos": ["330782195203041527"]}
    attached = tips.register_tip(store, tip(**facts), "ana")
    unled = tips.register_tip(store, tip(phones=[OTHER_PHONE], content="另一举报"), "ana")
    recorder = BoundParameters(scheme)
    found = tip_matching.match_tip(store, recorder, attached, "ana")
    assert {match.account_no for match in found} >= {HUB, OTHER_HUB}
    tip_matching.match_tip(store, recorder, unled, "ana")
    manual = tip_matching.open_manual_lead(store, recorder, unled, "ana", "举报人称该社承诺年息 12%")
    assert store.get_lead(manual)["individual_payers"] == 15
    assert recorder.queries > 10, "the recorder saw the matching's and the manual lead's queries"
    assert not [value for value in recorder.values if isinstance(value, (list, tuple))]


def test_a_manual_lead_needs_matched_accounts(store, scheme, lead_id):
    tip_id = tips.register_tip(store, tip(companies=["无此公司"]), "ana")
    tip_matching.match_tip(store, scheme, tip_id, "ana")
    with pytest.raises(LifecycleError, match="没有匹配到账户"):
        tip_matching.open_manual_lead(store, scheme, tip_id, "ana", "试试")


def test_rematching_open_tips_reports_only_new_matches(store, scheme, lead_id):
    early = tips.register_tip(store, tip(companies=["福寿康养老合作社"]), "ana")
    later = tips.register_tip(store, tip(phones=[OTHER_PHONE], content="另一条"), "ana")
    first = tip_matching.rematch_open_tips(store, scheme)
    assert set(first) == {early, later}
    assert tip_matching.rematch_open_tips(store, scheme) == {}


def test_the_procedure_goes_step_by_step_and_the_answer_is_recorded(store):
    tip_id = tips.register_tip(store, tip(), "ana")
    with pytest.raises(LifecycleError, match="不能从"):
        tips.move_tip(store, tip_id, "HANDLING", "ana", "跳过核实")
    with pytest.raises(LifecycleError, match="答复"):
        tips.move_tip(store, tip_id, "ANSWERED", "ana", "直接反馈")
    with pytest.raises(LifecycleError, match="auditor|审计员"):
        tips.move_tip(store, tip_id, "VERIFYING", "aud", "核实")
    tips.move_tip(store, tip_id, "VERIFYING", "ana", "电话回访举报人")
    tips.move_tip(store, tip_id, "HANDLING", "bob", "已转线索核查")
    tips.answer_tip(store, tip_id, "ana", "已受理并核查，感谢举报")
    found = tips.get_tip(store, tip_id)
    assert (found["status"], found["answer"], found["answered_by"]) == ("ANSWERED", "已受理并核查，感谢举报", "ana")
    assert [e["action"] for e in found["events"]] == ["registered", "move", "move", "answer"]
    assert [e["user"] for e in found["events"]] == ["ana", "ana", "bob", "ana"]
    assert store.verify_tip_events().ok


def test_feedback_deadline_comes_from_the_settings_and_late_tips_are_overdue(store):
    old = tips.register_tip(store, tip(received_at=datetime(2025, 1, 2, 9, 0)), "ana")
    fresh = tips.register_tip(store, tip(received_at=datetime.now() - timedelta(days=1), content="新"), "ana")
    found = {t["tip_id"]: t for t in tips.list_tips(store)}
    assert found[old]["feedback_due"] == date(2025, 1, 2) + timedelta(days=store.settings.tip_feedback_days)
    assert found[old]["overdue"] and not found[fresh]["overdue"]


def test_rewards_are_decided_and_paid_by_a_supervisor_and_audited(store):
    tip_id = tips.register_tip(store, tip(), "ana")
    with pytest.raises(LifecycleError, match="analyst|分析员"):
        tips.decide_reward(store, tip_id, "ana", "GRANT", "2000", "线索属实")
    with pytest.raises(FundflowError, match="大于零"):
        tips.decide_reward(store, tip_id, "sup", "GRANT", "0", "线索属实")
    reward_id = tips.decide_reward(store, tip_id, "sup", "GRANT", "2000", "线索属实，按办法奖励")
    tips.pay_reward(store, reward_id, "sup", date(2025, 5, 6), "银行转账发放")
    with pytest.raises(LifecycleError, match="已于"):
        tips.pay_reward(store, reward_id, "sup", date(2025, 5, 7), "again")
    (reward,) = tips.get_tip(store, tip_id)["rewards"]
    assert (str(reward["amount"]), reward["paid_on"], reward["paid_by"]) == ("2000.00", date(2025, 5, 6), "sup")
    with store.read() as conn:
        actions = [r.action for r in conn.execute(sa.select(audit).where(audit.c.target == f"tip:{tip_id}"))]
    assert actions == ["reward_decide", "reward_paid"]
    assert tips.tip_counts(store)["rewarded"] == 1


def test_the_reporter_is_masked_and_revealed_only_to_a_supervisor_with_a_reason(store):
    tip_id = tips.register_tip(store, tip(), "ana")
    shown = tips.shown_tip(tips.get_tip(store, tip_id))
    assert (shown["reporter_name"], shown["reporter_phone"], shown["reporter_id_no"]) == (
        "王*英",
        "135****9999",
        "330782********1527",
    )
    with pytest.raises(LifecycleError, match="analyst|分析员"):
        tips.reveal_reporter(store, tip_id, "ana", "核实")
    with pytest.raises(LifecycleError, match="理由"):
        tips.reveal_reporter(store, tip_id, "sup", " ")
    assert tips.reveal_reporter(store, tip_id, "sup", "须回访举报人") == REPORTER
    with store.read() as conn:
        (row,) = conn.execute(sa.select(audit).where(audit.c.action == "unmask")).mappings().all()
    assert (row["user"], row["target"], row["reason"]) == ("sup", f"tip:{tip_id}", "须回访举报人")
    assert store.verify_audit().ok


def test_subjects_split_into_people_and_companies():
    people, companies = tips.split_subjects("张三、福寿康养老合作社；李四;浙江鑫达投资有限公司")
    assert people == ["张三", "李四"] and companies == ["福寿康养老合作社", "浙江鑫达投资有限公司"]
    assert tips.split_numbers("6222 0200 0000 0000 018；13905761234") == ["6222020000000000018", "13905761234"]
    assert tips.phone_digits("+86 139-0576-1234") == OTHER_PHONE


def test_attaching_a_tip_leaves_no_event_on_other_leads(store, scheme, lead_id):
    tip_id = tips.register_tip(store, tip(companies=["福寿康养老合作社"]), "ana")
    tip_matching.match_tip(store, scheme, tip_id, "ana")
    with store.read() as conn:
        touched = set(conn.execute(sa.select(events.c.lead_id).where(events.c.action == "tip_attached")).scalars())
    assert touched == {lead_id}


def test_the_tip_mark_survives_new_activity_on_the_lead(settings, store, scheme, lead_id):
    tip_id = tips.register_tip(store, tip(companies=["福寿康养老合作社"]), "ana")
    tip_matching.match_tip(store, scheme, tip_id, "ana")
    seed_payments(scheme, first=40, payers=30, day=datetime(2025, 3, 10))
    add_ring(scheme, "run2")
    assert publish_run(settings, scheme, "run2", store).updated == 1
    assert "tip_reported" in store.get_lead(lead_id)["priority"]
