"""The nightly run matches open public tips against the new data and its summary lists the tips that now match."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.cases import tips
from pipelines.cases.store import CaseStore
from pipelines.flows import nightly_flow, summary_markdown
from tests.pipelines.test_flows import copy_samples

pytestmark = pytest.mark.usefixtures("prefect_harness")

HOLDER_ID = "330782195203140014"  # 赵一, an account holder in the first sample file


def test_the_nightly_summary_lists_tips_that_now_match(settings):
    store = CaseStore.open(settings)
    store.add_user("ana", "analyst")
    tip_id = tips.register_tip(
        store, tips.TipInput(received_at=datetime(2025, 3, 5, 9, 0), content="赵一拉人投资", id_nos=[HOLDER_ID]), "ana"
    )
    store.close()
    copy_samples(settings.inbox, ["C1234533000011_20250301_LARGE.csv"])
    first = nightly_flow(str(settings.home))
    assert [item["tip_id"] for item in first["tip_matches"]] == [tip_id]
    assert first["tip_matches"][0]["accounts"] == ["622848*********0017"]
    text = summary_markdown(first)
    assert f"举报新匹配 / tip now matches** {tip_id}" in text and "6228480012345000017" not in text
    store = CaseStore.open(settings)
    assert tips.get_tip(store, tip_id)["match_state"] == "ACCOUNTS"
    store.close()
    copy_samples(settings.inbox, ["C3456733000033_20250302_SUSPICIOUS.csv"])
    second = nightly_flow(str(settings.home))
    assert second["tip_matches"] == [] and "tips newly matched | 0" in summary_markdown(second)
