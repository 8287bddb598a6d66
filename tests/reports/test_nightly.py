"""The nightly exports: the masked list of open leads and this quarter's campaign tables, in a dated folder."""

from __future__ import annotations

from datetime import datetime

from openpyxl import load_workbook

from reports.nightly import export_nightly
from tests.pipelines.cases.test_publish import HUB
from tests.reports.test_export_leads import audit_rows


def test_nightly_writes_the_lead_list_and_the_campaign_tables(store_settings, lead_ids):
    paths = export_nightly(store_settings)
    today = datetime.now(store_settings.tz).date()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    assert [path.name for path in paths] == [f"线索清单-{today}.xlsx", f"专项行动统计表-{quarter}.xlsx"]
    assert all(path.parent == store_settings.exports / today.isoformat() for path in paths)
    leads = load_workbook(paths[0])
    assert {row[0] for row in leads["线索清单"].iter_rows(min_row=3, values_only=True)} == set(lead_ids)
    assert not any(HUB in str(cell) for sheet in leads for row in sheet.iter_rows(values_only=True) for cell in row)
    assert len(load_workbook(paths[1]).sheetnames) == 3
    assert [(record["user"], record["detail"]["what"]) for record in audit_rows(store_settings)] == [
        ("system", "leads"),
        ("system", "campaign"),
    ]
