"""`fundflow export leads`: the lead list for the disposition office (DOMAIN §6.4), one row per lead, and a
second table of every lead account (`lead_id, account_no, role`) that other tools join on.

Masked unless `--unmasked` with a reason; each file's SHA-256 goes into the case-store audit. How a lead
reads in an export (amounts, dates, provinces, labels, the recommended action) is defined here once and
shared with the campaign tables and the dossier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from pipelines.cases.lifecycle import OPEN_STATUSES
from pipelines.cases.sectors import sector_labels
from pipelines.cases.store import CaseStore, lead_accounts, measures, plain_json
from pipelines.errors import FundflowError
from pipelines.formatting import day, yuan_value
from pipelines.masking import mask_account, mask_lead, mask_name
from pipelines.settings import Settings
from pipelines.vocabulary import (
    ACCOUNT_ROLES,
    LEAD_SOURCES,
    LEAD_STATUS,
    PRIORITY_MARKS,
    PROVINCES,
    SUBJECT_KINDS,
    joined_words,
)
from reports.alerts import rule_titles
from reports.tables import (
    AMOUNT_FORMAT,
    Column,
    ExportResult,
    Sheet,
    check_unmask,
    export_format,
    export_user,
    record_export,
    write_tables,
)

LEAD_COLUMNS = (
    Column("lead_id", "线索编号"),
    Column("created_at", "生成日期"),
    Column("source", "线索来源"),
    Column("rule_hits", "命中规则"),
    Column("score", "评分", "0.00"),
    Column("subject_name", "主体名称"),
    Column("subject_id_no", "证件号码/统一社会信用代码"),
    Column("subject_kind", "主体类型"),
    Column("region", "所在地区"),
    Column("key_accounts", "主要账户（开户机构）"),
    Column("window_start", "监测起始日"),
    Column("window_end", "监测截止日"),
    Column("total_in", "转入总额（元）", AMOUNT_FORMAT),
    Column("total_out", "转出总额（元）", AMOUNT_FORMAT),
    Column("individual_payers", "转入个人数"),
    Column("elderly_share", "60岁以上占比", "0.0%"),
    Column("province_count", "涉及省份数"),
    Column("provinces", "涉及省份"),
    Column("estimated_participants", "估计集资参与人数"),
    Column("estimated_amount", "估计涉案金额（元）", AMOUNT_FORMAT),
    Column("keywords", "关键词"),
    Column("sectors", "重点领域"),
    Column("priority", "重点标记"),
    Column("status", "当前状态"),
    Column("assignee", "承办单位/人员"),
    Column("due_date", "办理期限"),
    Column("recommended_action", "建议措施"),
    Column("notes", "备注"),
)
ACCOUNT_COLUMNS = (
    Column("lead_id", "线索编号"),
    Column("account_no", "账号"),
    Column("role", "角色"),
    Column("role_zh", "角色说明"),
    Column("account_name", "户名"),
    Column("institution", "开户机构"),
    Column("total_in", "转入（元）", AMOUNT_FORMAT),
    Column("total_out", "转出（元）", AMOUNT_FORMAT),
)

KEY_ACCOUNTS = 5
# Case-filing reference for 非法吸收公众存款 (DOMAIN §3.1, 2022 revision [M]): worth weighing a direct referral.
CRIMINAL_PARTICIPANTS = 150
CRIMINAL_AMOUNT = Decimal(1_000_000)
FILTERS = ("status", "sector", "priority", "assignee", "created_from", "created_to", "limit")


# --- how a lead reads in an export ------------------------------------------------------------------------


def last_day(window_end: datetime | None) -> str:
    """The last day a window covers: detection windows end at midnight after it."""
    return day(window_end - timedelta(microseconds=1)) if window_end else ""


def province_name(code: str) -> str:
    return PROVINCES.get(code, code)


def provinces_text(codes: Iterable[str]) -> str:
    return "、".join(province_name(code) for code in codes)


def region_text(code: str | None) -> str:
    return f"{province_name(code[:2])} {code}" if code else ""


def estimated_amount(lead: dict) -> Decimal:
    """Money paid in by participants whose province is known, else everything paid in."""
    by_province = (lead.get("province_stats") or {}).get("by_province") or []
    if by_province:
        return yuan_value(sum(Decimal(str(item["amount"])) for item in by_province))
    return yuan_value(lead["total_in"])


def shown(lead: dict, unmasked: bool) -> dict:
    """The lead as a person may read it: masked unless the export was unmasked with a reason."""
    return dict(lead) if unmasked else mask_lead(lead)


def recommended_action(lead: dict, open_measures: int) -> str:
    """The next step of the procedure (DOMAIN §6.3) for a lead in its current state."""
    status = lead["status"]
    serious = lead["individual_payers"] >= CRIMINAL_PARTICIPANTS or Decimal(str(lead["total_in"])) >= CRIMINAL_AMOUNT
    referral = "；已达非法吸收公众存款立案参考标准，可研判移送公安机关" if serious else ""
    if status == "NEW":
        return "指派承办人开展初核"
    if status == "TRIAGE":
        return "完成初核，提交会商研判定性" + referral
    if status == "CONSULTATION":
        return "组织会商研判定性" + referral
    if status == "DETERMINED_ILLEGAL":
        return "确定处置措施（责令停止、查封扣押、移送公安机关等）并登记台账"
    if status == "NOT_ILLEGAL":
        return "视情作风险提示后提出销号"
    if status == "DISPOSITION":
        return f"推进台账未销号事项 {open_measures} 项" if open_measures else "台账事项已全部完成，提出销号"
    if status == "ON_HOLD":
        return "等待外部反馈后恢复办理"
    if status == "MERGED":
        return f"并入线索 {lead['merged_into']} 办理"
    return ""


def notes(lead: dict, today: date) -> str:
    return "；".join(lead_notes(lead, today))


def lead_notes(lead: dict, today: date) -> list[str]:
    """What a reader should know beside the status: the closed lead it continues, merging, a close waiting for
    its second signature, on hold, overdue. The CLI's `leads show` and the lead list say it in these words."""
    found = []
    if lead["related_lead_id"]:
        found.append(f"已销号线索 {lead['related_lead_id']} 的新活动")
    if lead["merged_into"]:
        found.append(f"已并入 {lead['merged_into']}")
    if lead["close_proposed_by"]:
        found.append(f"{lead['close_proposed_by']} 已提出销号，待确认")
    if lead["hold_since"]:
        found.append(f"{day(lead['hold_since'])} 起挂起")
    if lead["due_date"] and lead["due_date"] < today and lead["status"] in OPEN_STATUSES:
        found.append(f"已超期 {(today - lead['due_date']).days} 天")
    return found


def rule_hits(lead: dict, titles: dict[str, str]) -> str:
    """Rule ids with a short text: the rule's title, else the start of its reason."""
    reasons = {reason["rule_id"]: reason["zh"] for reason in lead["reasons"] or []}
    return "；".join(
        f"{rule_id} {titles.get(rule_id) or reasons.get(rule_id, '')[:30]}".strip() for rule_id in lead["rule_ids"]
    )


def party_name(name: str | None, kind: str | None, unmasked: bool) -> str:
    if not name:
        return ""
    return name if unmasked or kind != "PERSON" else mask_name(name)


# --- reading the case store -------------------------------------------------------------------------------


def accounts_by_lead(store: CaseStore, lead_ids: list[str]) -> dict[str, list[dict]]:
    """Every account of these leads, biggest inflow first."""
    found: dict[str, list[dict]] = defaultdict(list)
    with store.read() as conn:
        for start in range(0, len(lead_ids), 500):
            query = (
                sa.select(lead_accounts)
                .where(lead_accounts.c.lead_id.in_(lead_ids[start : start + 500]))
                .order_by(lead_accounts.c.lead_id, lead_accounts.c.total_in.desc(), lead_accounts.c.account_no)
            )
            for row in conn.execute(query).mappings():
                found[row["lead_id"]].append(dict(row))
    return found


def measures_by_lead(store: CaseStore, lead_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    with store.read() as conn:
        for start in range(0, len(lead_ids), 500):
            query = (
                sa.select(measures)
                .where(measures.c.lead_id.in_(lead_ids[start : start + 500]))
                .order_by(measures.c.measure_id)
            )
            for row in conn.execute(query).mappings():
                found[row["lead_id"]].append(dict(row))
    return found


def _filters(filters: dict | None) -> dict:
    filters = dict(filters or {})
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise FundflowError(f"未知筛选条件 / unknown filter {', '.join(unknown)}; 可用 / one of: {', '.join(FILTERS)}")
    return {name: value for name, value in filters.items() if value not in (None, "", [])}


# --- the export -------------------------------------------------------------------------------------------


def lead_row(
    lead: dict, accounts: list[dict], open_measures: int, titles: dict[str, str], unmasked: bool, today: date
) -> dict:
    person = shown(lead, unmasked)
    key_accounts = [a for a in accounts if a["role"] != "investor"][:KEY_ACCOUNTS]
    return {
        "lead_id": lead["lead_id"],
        "created_at": day(lead["created_at"]),
        "source": LEAD_SOURCES.get(lead["source"], lead["source"]),
        "rule_hits": rule_hits(lead, titles),
        "score": round(lead["score"], 4),
        "subject_name": person["subject_name"] or "",
        "subject_id_no": person["subject_id_no"] or "",
        "subject_kind": SUBJECT_KINDS.get(lead["subject_kind"], lead["subject_kind"] or ""),
        "region": region_text(lead["subject_region"]),
        "key_accounts": "；".join(
            f"{a['account_no'] if unmasked else mask_account(a['account_no'])}"
            f"（{a['institution'] or '机构不详'}，{ACCOUNT_ROLES.get(a['role'], a['role'])}）"
            for a in key_accounts
        ),
        "window_start": day(lead["window_start"]),
        "window_end": last_day(lead["window_end"]),
        "total_in": yuan_value(lead["total_in"]),
        "total_out": yuan_value(lead["total_out"]),
        "individual_payers": lead["individual_payers"],
        "elderly_share": round(lead["elderly_share"], 4),
        "province_count": len(lead["provinces"]),
        "provinces": provinces_text(lead["provinces"]),
        "estimated_participants": lead["individual_payers"],
        "estimated_amount": estimated_amount(lead),
        "keywords": "、".join(lead["keywords"][:10]),
        "sectors": sector_labels(lead["sectors"]),
        "priority": joined_words(lead["priority"], PRIORITY_MARKS),
        "status": LEAD_STATUS.get(lead["status"], lead["status"]),
        "assignee": lead["assignee"] or "",
        "due_date": day(lead["due_date"]),
        "recommended_action": recommended_action(lead, open_measures),
        "notes": notes(lead, today),
    }


def account_row(account: dict, unmasked: bool) -> dict:
    return {
        "lead_id": account["lead_id"],
        "account_no": account["account_no"] if unmasked else mask_account(account["account_no"]),
        "role": account["role"],
        "role_zh": ACCOUNT_ROLES.get(account["role"], account["role"]),
        "account_name": party_name(account["account_name"], account["holder_kind"], unmasked),
        "institution": account["institution"] or "",
        "total_in": yuan_value(account["total_in"]),
        "total_out": yuan_value(account["total_out"]),
    }


def export_leads(
    settings: Settings,
    out_path: str | Path,
    user: str | None = None,
    unmasked: bool = False,
    reason: str | None = None,
    filters: dict | None = None,
) -> ExportResult:
    """Write the lead list (.xlsx: two sheets; .csv: X.csv and X.accounts.csv) and audit every file.

    `filters` takes the keywords of `CaseStore.list_leads` (status, sector, priority, assignee, created_from,
    created_to, limit). Returns the main file, its SHA-256, the number of leads and every file written.
    """
    reason = check_unmask(unmasked, reason)
    user = export_user(user)
    out = Path(out_path)
    export_format(out)
    chosen = _filters(filters)
    store = CaseStore.open(settings)
    try:
        found = store.list_leads(**chosen)
        ids = [lead["lead_id"] for lead in found]
        accounts = accounts_by_lead(store, ids)
        ledger = measures_by_lead(store, ids)
        today = store.today()
    finally:
        store.close()
    titles = rule_titles(settings)
    rows = [
        lead_row(
            lead,
            accounts[lead["lead_id"]],
            sum(m["status"] != "DONE" for m in ledger[lead["lead_id"]]),
            titles,
            unmasked,
            today,
        )
        for lead in found
    ]
    account_rows = [account_row(account, unmasked) for lead_id in ids for account in accounts[lead_id]]
    files = write_tables(
        out,
        [Sheet("线索清单", LEAD_COLUMNS, rows), Sheet("涉及账户", ACCOUNT_COLUMNS, account_rows)],
        csv_suffixes=("", ".accounts"),
    )
    record_export(
        settings,
        user,
        "leads",
        files,
        unmasked,
        reason,
        detail={"rows": len(rows), "accounts": len(account_rows), "filters": plain_json(chosen)},
    )
    return ExportResult(path=files[0][0], sha256=files[0][1], rows=len(rows), files=tuple(files))
