"""The console's 报告机构 page: it draws the scorecard snapshot (table, one chart per measure, the missed reports)
with accounts masked, is linked from the navigation, and needs a login."""

from __future__ import annotations

import re
from datetime import date

from pipelines.evaluation.institutions import Scorecard, parse_period
from reports.institutions import CHARTED, write_snapshot
from tests.console.conftest import login

ACCOUNT = "6222020000000123456"


def summary_row(code: str, lines: int, late_share: float, crossed: list) -> dict:
    row = dict.fromkeys(
        ("files", "lines", "quarantined", "late_lines", "transfer_sides", "missing_legs", "large_unreported"), 0
    )
    row.update(
        institution_code=code, period="2025Q1", files=3, lines=lines, quarantine_rate=0.02, soft_finding_rate=0.1,
        late_share=late_share, max_lag_working_days=9, working_days_since_last_file=2, missing_leg_share=0.5,
        large_unreported=1, missed_suspicious=1, completeness_lowest=0.8, crossed=crossed,
    )  # fmt: skip
    return row


def snapshot(settings) -> None:
    scorecard = Scorecard(
        parse_period("2025Q1"),
        date(2025, 3, 31),
        [
            summary_row("C0001", 120, 0.25, [("late_share", 0.25, 0.1)]),
            summary_row("C0002", 40, 0.0, []),
        ],
        {
            "missed": [
                {
                    "institution_code": "C0001", "account_no": ACCOUNT, "account_name": "王小明",
                    "lead_ids": "XS2025-000001", "roles": "hub", "how_reported": "large_only", "large_lines": 2,
                    "first_flaggable": date(2025, 2, 3), "suspicious_lines": 0, "payments_in_period": 5,
                }
            ],
            "large_unreported": [
                {
                    "institution_code": "C0002", "account_no": ACCOUNT, "account_name": "王小明", "direction": "IN",
                    "day": date(2025, 2, 3), "txn_time": "2025-02-03 10:00:00", "amount_cny": 600000.0,
                    "day_total": 600000.0, "other_institution": "C0001", "other_txn_ref": "A1",
                }
            ],
            "completeness": [{"institution_code": "C0001", "lines": 120, "memo": 0.5, "match_no": 0.9}],
        },
    )  # fmt: skip
    write_snapshot(settings, scorecard)


def test_the_page_draws_a_table_and_a_chart_per_measure_masked(settings, client_for):
    snapshot(settings)
    client = client_for("analyst")
    page = client.get("/institutions")
    assert page.status_code == 200
    html = page.text
    assert "报告机构评分卡" in html and "2025年第1季度" in html
    assert 'href="/institutions"' in html  # in the navigation
    table = html[html.index('id="scorecard"') : html.index("</table>", html.index('id="scorecard"'))]
    assert table.count("<tr>") == 3 and "C0001" in table and "25.0%" in table and "逾期占比" in table
    assert html.count('<svg class="bars"') == len(CHARTED)
    assert len(re.findall(r"<rect ", html)) == 2 * len(CHARTED)
    assert ACCOUNT not in html and "622202*********3456" in html
    assert "王小明" not in html and "王*明" in html
    assert "仅报大额" in html and "50%" in html
    assert '<script src="/static/institutions.js">' in html
    assert client.get("/static/institutions.js").status_code == 200


def test_the_page_says_how_to_make_a_scorecard_when_there_is_none(client_for):
    html = client_for("auditor").get("/institutions").text
    assert "尚无评分卡" in html and "fundflow institutions report" in html


def test_the_page_needs_a_login(client_for):
    response = client_for().get("/institutions", follow_redirects=False)
    assert response.status_code == 303 and "/login" in response.headers["location"]
    assert login  # the shared helper is what logs in above


def test_institutions_are_named_from_the_register(settings, client_for, monkeypatch, tmp_path):
    import dataclasses

    import pytest

    from console import institutions
    from pipelines.errors import FundflowError

    (tmp_path / "institutions").mkdir()
    register = tmp_path / "institutions" / institutions.NAMES_FILE
    register.write_text('version: "1"\nnames:\n  C0001: 示例农村商业银行\n', encoding="utf-8")
    read = institutions.institution_names
    monkeypatch.setattr(institutions, "institution_names", lambda s: read(dataclasses.replace(s, rules_dir=tmp_path)))
    snapshot(settings)
    html = client_for("analyst").get("/institutions").text
    table = html[html.index('id="scorecard"') : html.index("</table>", html.index('id="scorecard"'))]
    assert "示例农村商业银行（C0001）" in table and ">C0002<" in table  # an unlisted code stays as it is
    assert "示例农村商业银行（C0001）</text>" in html  # the charts' labels too
    register.write_text("names:\n  C0001: ''\n", encoding="utf-8")
    with pytest.raises(FundflowError, match="names.C0001"):
        read(dataclasses.replace(settings, rules_dir=tmp_path))
    # The shipped register parses and names the sample banks.
    assert read(settings)["C1234533000011"] == "示例农村商业银行"
