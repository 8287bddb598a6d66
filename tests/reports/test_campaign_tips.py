"""The campaign summary (table a) counts the public tips of the period: received, verified, answered, overdue,
turned into or attached to leads, rewarded (paid) and the sum paid."""

from __future__ import annotations

from datetime import timedelta

from pipelines.cases import tip_matching, tips
from pipelines.cases.store import CaseStore
from reports.campaign import export_campaign, quarter_of
from tests.reports.test_export_leads import read_csv


def test_the_summary_counts_the_periods_tips(store_settings, lead_ids, tmp_path):
    store = CaseStore.open(store_settings)
    try:
        now = store.now()
        period = quarter_of(now.date())
        before = tips.TipInput(received_at=period.starts - timedelta(days=10), content="上季度的举报")
        tips.register_tip(store, before, "ana")
        inside = [
            tips.register_tip(
                store, tips.TipInput(received_at=now - timedelta(minutes=n + 1), content=f"举报 {n}"), "ana"
            )
            for n in range(3)
        ]
        attached = tips.register_tip(
            store,
            tips.TipInput(received_at=now - timedelta(minutes=5), content="康乐", companies=["康乐养老公司"]),
            "ana",
        )
        assert tip_matching.match_tip(store, None, attached, "ana")  # the leads alone:康乐养老服务有限公司
        tips.move_tip(store, inside[0], "VERIFYING", "ana", "回访")
        tips.answer_tip(store, inside[1], "ana", "已核查")
        reward = tips.decide_reward(store, inside[0], "sup", "GRANT", "3000", "属实")
        tips.pay_reward(store, reward, "sup", now.date(), "已发放")
        tips.decide_reward(store, inside[2], "sup", "REFUSE", None, "不属实")
    finally:
        store.close()
    export_campaign(store_settings, tmp_path / "c.csv", "ana")
    [summary] = read_csv(tmp_path / "c.a.csv")
    assert summary["受理群众举报（件）"] == "4"
    assert summary["其中：已核实（件）"] == "2"
    assert summary["其中：已答复举报人（件）"] == "1"
    assert summary["其中：转为或关联线索（件）"] == "1"
    assert summary["举报奖励已发放（件）"] == "1" and summary["举报奖励金额（万元）"] == "0.30"
    assert summary["重点：群众举报（条）"] == "1"
