"""The lead page's split form: offered only to those who may change leads, accounts masked; a split from it links
every part to the others (拆分自 / 拆分为), and a refusal is shown on the page naming the field."""

from __future__ import annotations

import re

import pytest

from console.views import node_key
from pipelines.cases import lifecycle
from pipelines.warehouse import db as warehouse
from tests.console.conftest import csrf_of
from tests.pipelines.cases.test_publish import COLLECTOR, HUB, OTHER_HUB, build_warehouse
from tests.pipelines.cases.test_split import publish_merged_lead

pytestmark = pytest.mark.sqlite_only  # the split itself runs on both stores in tests/pipelines/cases/test_split.py

REASON = "两个方案误合并 / two schemes merged"


@pytest.fixture
def merged_lead(settings, store) -> str:
    """One lead holding HUB's and OTHER_HUB's schemes, in the home's warehouse and case store."""
    con = build_warehouse(warehouse.connect(settings))
    try:
        lead_id = publish_merged_lead(settings, con, store)
    finally:
        con.close()
    lifecycle.assign(store, lead_id, "analyst", "supervisor", "初核")
    return lead_id


def test_the_split_form_is_for_those_who_change_leads_masked_and_links_the_parts(app, client_for, merged_lead):
    page = client_for("analyst").get(f"/leads/{merged_lead}").text
    assert 'id="split-form"' in page and "拆分理由（必填）" in page
    assert "622202*********0018" in page and "622848*********0042" in page
    assert not any(number in page for number in (HUB, OTHER_HUB, COLLECTOR))
    assert f'value="2:{node_key(app.state.secret, OTHER_HUB)}"' in page
    auditor = client_for("auditor")
    page = auditor.get(f"/leads/{merged_lead}").text
    assert 'id="split-form"' not in page
    hub_key, other_key = (node_key(app.state.secret, number) for number in (HUB, OTHER_HUB))
    form = {"csrf_token": csrf_of(page), "core": [f"1:{hub_key}", f"2:{other_key}"], "reason": REASON}
    assert "role auditor may not split leads" in auditor.post(f"/leads/{merged_lead}/split", data=form).text

    # a split from the page links the parts, and a refusal names the field
    analyst = client_for("analyst")
    token = csrf_of(analyst.get(f"/leads/{merged_lead}").text)
    refused = analyst.post(
        f"/leads/{merged_lead}/split", data={"csrf_token": token, "core": [f"1:{hub_key}"], "reason": REASON}
    )
    assert "core: a split needs at least 2 parts" in refused.text and 'id="split-links"' not in refused.text
    assert REASON in refused.text  # the typed reason is kept for the next try
    done = analyst.post(
        f"/leads/{merged_lead}/split",
        data={"csrf_token": token, "core": [f"1:{hub_key}", f"2:{other_key}", ""], "reason": REASON},
    )
    new_id = re.search(r"已拆分为 \S+、(XS\d{4}-\d{6})", done.text).group(1)
    links = re.search(r'id="split-links">(.*?)</td>', done.text).group(1)
    assert links == f'拆分为 <a href="/leads/{new_id}">{new_id}</a>'
    part = analyst.get(f"/leads/{new_id}").text
    links = re.search(r'id="split-links">(.*?)</td>', part).group(1)
    assert links == f'拆分自 <a href="/leads/{merged_lead}">{merged_lead}</a>'
    assert "622848*********0042" in part and REASON in part and OTHER_HUB not in part
    # the history it shares with the lead it came from: the assignment before the split, and the split
    earlier = re.search(r'id="earlier-events">(.*?)</table>', part, re.S).group(1)
    assert "初核" in earlier and "supervisor" in earlier and "拆分" in earlier and "生成线索" in earlier
    assert 'id="earlier-events"' not in done.text
