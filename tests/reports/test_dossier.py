"""`fundflow export dossier`: one self-contained, escaped HTML evidence pack per lead (reasons, graph,
timeline, transactions, ledger, history), masked unless unmasked with a reason, audited; PDF via Chromium."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ElementTree

import pytest

from pipelines.cases.store import CaseStore
from pipelines.cli import main
from pipelines.errors import FundflowError
from pipelines.masking import mask_account
from reports import dossier
from reports.dossier import evidence_graph, export_dossier, find_chromium, timeline
from tests.pipelines.cases.test_publish import COLLECTOR, HUB
from tests.reports.conftest import SCRIPT_NAME
from tests.reports.test_export_leads import audit_rows

# Anything that would make a browser fetch: attributes naming a resource, CSS url() other than an in-page
# fragment, @import, and any absolute or protocol-relative address.
NETWORK = re.compile(
    r"""(?:\b(?:src|href|srcset|action|poster|data)\s*=|url\(\s*['"]?(?!#)|@import|https?:|//)""", re.IGNORECASE
)


def get_lead(settings, lead_id: str) -> dict:
    store = CaseStore.open(settings)
    try:
        return store.get_lead(lead_id)
    finally:
        store.close()


def test_the_dossier_is_self_contained_and_holds_the_evidence(store_settings, lead_ids, tmp_path):
    lead_id = lead_ids[0]
    out = tmp_path / "卷宗.html"
    result = export_dossier(store_settings, lead_id, out, "ana")
    html = out.read_text(encoding="utf-8")
    lead = get_lead(store_settings, lead_id)

    assert NETWORK.search(html) is None
    assert "<script" not in html.lower() and "<link" not in html.lower() and "<img" not in html.lower()
    assert lead["narrative"] in html
    assert lead["reasons"] and all(reason["zh"] in html and reason["en"] in html for reason in lead["reasons"])
    assert all(alert["alert_id"] in html for alert in lead["alerts"])
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert len(svgs) == 2
    graph, chart = (ElementTree.fromstring(svg) for svg in svgs)  # well-formed, so any viewer draws them
    assert len(graph.findall(".//circle")) == len(evidence_graph(lead, unmasked=False).nodes) >= 3
    assert len(graph.findall(".//path")) >= 3 and len(chart.findall(".//rect")) >= 2
    # every transaction, masked
    rows = re.search(r"七、交易明细.*?</table>", html, re.DOTALL).group(0)
    assert rows.count("<tr>") == len(lead["payments"]) + 1 == result.rows + 1
    assert mask_account(HUB) in html and HUB not in html and COLLECTOR not in html
    assert "91330782MA2ABCDE1X" not in html and "913307********DE1X" in html
    assert "张*明" in html and "张小明" not in html  # a person's name, masked
    for text in ("罚款", "YS-2025-007", "责令整改", "会商认定为非法集资", "分配初核"):
        assert text in html
    [record] = audit_rows(store_settings)
    assert (record["target"], record["user"], record["file_sha256"]) == (
        lead_id,
        "ana",
        hashlib.sha256(out.read_bytes()).hexdigest(),
    )


def test_text_from_the_data_is_escaped(store_settings, lead_ids, tmp_path):
    out = tmp_path / "d.html"
    export_dossier(store_settings, lead_ids[0], out, "ana")
    html = out.read_text(encoding="utf-8")
    assert SCRIPT_NAME not in html and "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;李四" in html


def test_unmasked_needs_a_reason_and_shows_whole_numbers(store_settings, lead_ids, tmp_path):
    out = tmp_path / "d.html"
    with pytest.raises(FundflowError, match="--reason"):
        export_dossier(store_settings, lead_ids[0], out, "ana", unmasked=True)
    assert not out.exists()
    export_dossier(store_settings, lead_ids[0], out, "chief", unmasked=True, reason="移送公安 YS-2025-007")
    html = out.read_text(encoding="utf-8")
    assert HUB in html and "91330782MA2ABCDE1X" in html and "移送公安 YS-2025-007" in html
    [record] = audit_rows(store_settings)
    assert (record["reason"], record["detail"]["unmasked"]) == ("移送公安 YS-2025-007", True)


def test_many_participants_are_drawn_as_one_node_around_the_hub(store_settings, lead_ids, monkeypatch):
    lead = get_lead(store_settings, lead_ids[0])
    picture = evidence_graph(lead, unmasked=False)
    names = [node["name"] for node in picture.nodes]
    assert "集资参与人 40 人" in names and picture.grouped_investors == 40
    by_name = {node["name"]: node for node in picture.nodes}
    # participants left of the hub, the money's next stop right of it
    assert by_name["集资参与人 40 人"]["x"] < by_name["康乐养老服务有限公司"]["x"] < by_name["张*明"]["x"]
    monkeypatch.setattr(dossier, "GROUP_INVESTORS_ABOVE", 40)
    ungrouped = evidence_graph(lead, unmasked=False)
    assert ungrouped.grouped_investors == 0 and len(ungrouped.nodes) == len(picture.nodes) - 1 + 40


def test_the_timeline_counts_money_crossing_the_schemes_own_accounts(store_settings, lead_ids):
    lead = get_lead(store_settings, lead_ids[0])
    days = timeline(lead)
    # 40 participants paid 20,000 each; 12 of them got 600 back; the collector withdrew 400,000 in cash (the
    # timeline reads every payment, not the evidence sample); hub → collector stays inside the scheme
    assert sum(day["inflow"] for day in days) == 40 * 20_000
    assert sum(day["outflow"] for day in days) == 12 * 600 + 400_000
    assert sum(day["outflow"] for day in days) == float(lead["total_out"])
    assert [day["day"].isoformat() for day in days if day["inflow"]] == ["2025-03-01"]


def test_pdf_without_chromium_is_a_clear_error(store_settings, lead_ids, tmp_path, monkeypatch):
    monkeypatch.setattr(dossier, "CHROMIUM_CANDIDATES", ("/nonexistent/chromium",))
    out = tmp_path / "d.pdf"
    with pytest.raises(FundflowError, match="chromium is not installed"):
        export_dossier(store_settings, lead_ids[0], out, "ana")
    assert not out.exists() and audit_rows(store_settings) == []


@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed on this machine")
def test_pdf_is_printed_by_headless_chromium(store_settings, lead_ids, tmp_path):
    out = tmp_path / "d.pdf"
    result = export_dossier(store_settings, lead_ids[1], out, "ana")
    assert out.read_bytes().startswith(b"%PDF") and result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()


def test_cli_needs_a_lead_and_an_html_or_pdf_file(store_settings, lead_ids, tmp_path, capsys):
    home = str(store_settings.home)
    assert main(["--home", home, "export", "dossier", "--out", str(tmp_path / "d.html")]) == 1
    assert "LEAD" in capsys.readouterr().err
    assert main(["--home", home, "export", "dossier", lead_ids[0], "--out", str(tmp_path / "d.xlsx")]) == 1
    assert ".html" in capsys.readouterr().err
    assert main(["--home", home, "export", "dossier", "XS1999-000001", "--out", str(tmp_path / "d.html")]) == 1
    assert "no such lead" in capsys.readouterr().err
    assert main(["--home", home, "export", "dossier", lead_ids[1], "--out", str(tmp_path / "d.html")]) == 0
    assert "已导出线索" in capsys.readouterr().out
