"""The console's downloads call the same export functions as `fundflow export` (reports/), so a file downloaded
from the browser is made, masked and audited exactly like one exported from the terminal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipelines.errors import FundflowError
from pipelines.settings import Settings
from pipelines.vocabulary import EXPORT_TITLES

# what → (Chinese title, file suffix); the suffix picks the format.
SUFFIXES = {"leads": ".xlsx", "campaign": ".xlsx", "dossier": ".html"}
KINDS = {what: (EXPORT_TITLES[what], suffix) for what, suffix in SUFFIXES.items()}


def export(settings: Settings, what: str, user: str, lead_id: str | None = None, period: str | None = None) -> Path:
    """Write one masked export under <home>/exports/console/ and return its path."""
    if what not in KINDS:
        raise FundflowError(f"没有这种导出 / export '{what}' is not available")
    if what == "dossier" and not lead_id:
        raise FundflowError("导出卷宗须指明线索 / a dossier needs a lead")
    folder = settings.exports / "console"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    out = folder / f"{what}{'-' + lead_id if lead_id else ''}-{user}-{stamp}{SUFFIXES[what]}"
    if what == "leads":
        from reports.leads_export import export_leads

        export_leads(settings, out, user)
    elif what == "campaign":
        from reports.campaign import export_campaign

        export_campaign(settings, out, user, period=period)
    else:
        from reports.dossier import export_dossier

        export_dossier(settings, str(lead_id), out, user)
    if not out.exists():
        raise FundflowError(f"导出失败 / export failed: {what}")
    return out
