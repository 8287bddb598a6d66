"""The console's downloads call the same export functions as `fundflow export` (reports/), so a file downloaded
from the browser is made, masked and audited exactly like one exported from the terminal."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from console import views
from pipelines.cases.store import CaseStore
from pipelines.errors import FundflowError
from pipelines.settings import Settings
from pipelines.vocabulary import EXPORT_TITLES
from reports.tables import AMOUNT_FORMAT, Column, Sheet, record_export, write_tables

# The 交易明细 export: the lead page's table as filtered and sorted there, masked like the page.
PAYMENT_COLUMNS = [
    Column("time", "交易时间"),
    Column("payer", "付款方"),
    Column("payee", "收款方"),
    Column("amount", "金额（元）", AMOUNT_FORMAT),
    Column("flow", "资金类别"),
    Column("method", "方式"),
    Column("purpose", "用途"),
    Column("memo", "附言"),
]

# what → (Chinese title, file suffix); the suffix picks the format.
SUFFIXES = {"leads": ".xlsx", "campaign": ".xlsx", "dossier": ".html", "transactions": ".xlsx"}
KINDS = {what: (EXPORT_TITLES[what], suffix) for what, suffix in SUFFIXES.items()}


def export(
    settings: Settings,
    what: str,
    user: str,
    lead_id: str | None = None,
    period: str | None = None,
    payments: views.PaymentFilter | None = None,
) -> Path:
    """Write one masked export under <home>/exports/console/ and return its path."""
    if what not in KINDS:
        raise FundflowError(f"没有这种导出 / export '{what}' is not available")
    if what in ("dossier", "transactions") and not lead_id:
        raise FundflowError("导出卷宗或交易明细须指明线索 / a dossier or transactions export needs a lead")
    folder = settings.exports / "console"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    out = folder / f"{what}{'-' + lead_id if lead_id else ''}-{user}-{stamp}{SUFFIXES[what]}"
    if what == "leads":
        from reports.leads_export import export_leads

        export_leads(settings, out, user)
    elif what == "transactions":
        export_payments(settings, str(lead_id), payments or views.PaymentFilter(), out, user)
    elif what == "campaign":
        from reports.campaign import export_campaign

        export_campaign(settings, out, user, period=period)
    else:
        from reports.dossier import export_dossier

        export_dossier(settings, str(lead_id), out, user)
    if not out.exists():
        raise FundflowError(f"导出失败 / export failed: {what}")
    return out


def export_payments(settings: Settings, lead_id: str, chosen: views.PaymentFilter, out: Path, user: str) -> None:
    """The lead's payments as the page's filter chose them, masked, in one sheet; audited with its SHA-256."""
    store = CaseStore.open(settings)
    try:
        rows = views.payments_chosen(store.get_lead(lead_id), chosen)
    finally:
        store.close()
    sheet = Sheet(EXPORT_TITLES["transactions"], PAYMENT_COLUMNS, rows, caption=(f"线索 {lead_id} 交易明细（已脱敏）",))
    files = write_tables(out, [sheet], csv_suffixes=("",))
    record_export(
        settings,
        user,
        "transactions",
        files,
        False,
        None,
        target=lead_id,
        detail={"rows": len(rows), "filter": {k: str(v) for k, v in vars(chosen).items() if v not in (None, "")}},
    )
