"""What the nightly run exports to `<home>/exports/<YYYY-MM-DD>/`: the masked list of leads still being worked
and the campaign tables of the current quarter, both XLSX, both audited as exported by `system`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipelines.cases.lifecycle import OPEN_STATUSES
from pipelines.cases.publish import SYSTEM_USER
from pipelines.settings import Settings
from reports.campaign import export_campaign
from reports.leads_export import export_leads


def export_nightly(settings: Settings) -> list[Path]:
    today = datetime.now(settings.tz).date()
    folder = settings.exports / today.isoformat()
    period = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    leads = export_leads(
        settings,
        folder / f"线索清单-{today.isoformat()}.xlsx",
        SYSTEM_USER,
        filters={"status": [*OPEN_STATUSES, "ON_HOLD"]},
    )
    campaign = export_campaign(settings, folder / f"专项行动统计表-{period}.xlsx", SYSTEM_USER, period=period)
    return [leads.path, campaign.path]
