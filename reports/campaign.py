"""`fundflow export campaign`: the campaign's three statistics tables (DOMAIN §3.3, §6.4) for a period, built
from the case store's leads, ledger measures and event history.

Each table's columns are one list below, a Chinese label and how to get the value, so a county whose template
differs edits one line per column. Leads are counted as they stood at the end of the period (replayed from
their events); measures count in the period in which they were closed out (销号).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pipelines.cases.lifecycle import MEASURE_KINDS
from pipelines.cases.publish import lead_policy
from pipelines.cases.sectors import SECTORS, sector_labels
from pipelines.cases.store import CaseStore, events
from pipelines.cases.tips import tip_counts
from pipelines.errors import FundflowError
from pipelines.formatting import day, wan_value
from pipelines.settings import Settings
from pipelines.vocabulary import (
    CAMPAIGN_SHEETS,
    CAMPAIGN_TITLES,
    DISPOSITION_TYPES,
    LEAD_SOURCES,
    LEAD_STATUS,
    MEASURE_COUNT_UNITS,
    PRIORITY_MARKS,
    PROCEDURE_STAGES,
    joined_words,
)
from reports.leads_export import (
    estimated_amount,
    measures_by_lead,
    province_name,
    provinces_text,
    shown,
)
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

REPAY_KINDS = ("ORDER_REPAY", "SUPERVISE_REPAY")
# The summary counts MEASURE_COUNT_UNITS one by one, each in its unit; the rest go under 其他处置措施.
COUNTED_STATUSES = tuple(code for code in LEAD_STATUS if code != "MERGED")


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    """Last day, inclusive."""
    label: str

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.start, time.min)

    @property
    def ends(self) -> datetime:
        """Midnight after the last day: everything strictly before it is in the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min)


def quarter_of(today: date) -> Period:
    quarter = (today.month - 1) // 3 + 1
    return parse_period(f"{today.year}Q{quarter}", today)


def parse_period(text: str | None, today: date) -> Period:
    """`2025Q3`, `2025` (the whole year) or `2025-07-01:2025-09-30`; none means the current quarter."""
    if not text or not text.strip():
        return quarter_of(today)
    text = text.strip().upper()
    if match := re.fullmatch(r"(\d{4})Q([1-4])", text):
        year, quarter = int(match[1]), int(match[2])
        start = date(year, 3 * quarter - 2, 1)
        end = (date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)) - timedelta(days=1)
        return Period(start, end, f"{year}年第{quarter}季度")
    if re.fullmatch(r"\d{4}", text):
        return Period(date(int(text), 1, 1), date(int(text), 12, 31), f"{text}年")
    first, colon, last = text.partition(":")
    bad_period = FundflowError(f"统计期间格式应为 2025Q3、2025 或 2025-07-01:2025-09-30 / bad period: {text}")
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise bad_period from None
    if not colon or end < start:
        raise bad_period
    return Period(start, end, f"{start.isoformat()} 至 {end.isoformat()}")


@dataclass
class LeadFacts:
    """One lead as it stood at the end of the period."""

    lead: dict
    person: dict
    """The lead as a person may read it (masked unless unmasked)."""
    status: str
    events: list[dict]
    measures: list[dict]
    """Ledger items that existed at the end of the period, each with `done` as of then."""
    serial: int = 0

    def moved(self, from_status: str | None = None, to_status: str | None = None) -> dict | None:
        """The first move out of `from_status` and/or into `to_status`."""
        return next(
            (
                e
                for e in self.events
                if e["action"] == "move"
                and (from_status is None or e["from_status"] == from_status)
                and (to_status is None or e["to_status"] == to_status)
            ),
            None,
        )

    @property
    def repaid(self) -> Decimal:
        return sum(
            (Decimal(str(m["amount"] or 0)) for m in self.measures if m["kind"] in REPAY_KINDS and m["done"]),
            Decimal(0),
        )

    @property
    def stage(self) -> str:
        types = {m["disposition_type"] for m in self.measures}
        if "TRANSFER_POLICE" in types:
            return PROCEDURE_STAGES["criminal"]
        if "ADMIN" in types or self.status == "DETERMINED_ILLEGAL":
            return PROCEDURE_STAGES["admin"]
        return PROCEDURE_STAGES["risk"]

    @property
    def main_province(self) -> str:
        region = self.lead["subject_region"]
        return region[:2] if region else (self.lead["provinces"] or [""])[0]


@dataclass
class Summary:
    """Table (a): the period's figures, for one reporting unit."""

    unit: str
    period: Period
    leads: list[LeadFacts]
    done_measures: list[dict] = field(default_factory=list)
    """Ledger items closed out within the period."""
    tips: dict = field(default_factory=dict)
    """Public tips received in the period (`pipelines.cases.tips.tip_counts`)."""

    @property
    def by_status(self) -> Counter:
        return Counter(facts.status for facts in self.leads)

    def count(self, predicate: Callable[[LeadFacts], bool]) -> int:
        return sum(1 for facts in self.leads if predicate(facts))

    def measures_of(self, *kinds: str) -> list[dict]:
        return [m for m in self.done_measures if m["kind"] in kinds]

    def total(self, value: Callable[[LeadFacts], Any]) -> Any:
        return sum(value(facts) for facts in self.leads)


def _in_period(moment: datetime | None, period: Period) -> bool:
    return moment is not None and period.starts <= moment < period.ends


def _money_moved_in(lead: dict, period: Period) -> bool:
    """The lead's evidence window overlaps the period (a lead found later still counts where its money moved)."""
    start, end = lead["window_start"], lead["window_end"]
    return start is not None and end is not None and start < period.ends and end >= period.starts


def _other_kinds() -> tuple[str, ...]:
    return tuple(code for code in MEASURE_KINDS if code not in MEASURE_COUNT_UNITS)


SUMMARY_COLUMNS: list[tuple[Column, Callable[[Summary], Any]]] = [
    (Column("unit", "填报单位"), lambda s: s.unit),
    (Column("period", "统计期间"), lambda s: s.period.label),
    (Column("leads", "台账线索总数（条）"), lambda s: len(s.leads)),
    (
        Column("leads_new", "本期新增线索（条）"),
        lambda s: s.count(lambda f: _in_period(f.lead["created_at"], s.period)),
    ),
    (Column("leads_monitoring", "其中：资金异动监测（条）"), lambda s: s.count(lambda f: f.lead["source"] == "model")),
    (Column("leads_other", "其中：其他来源（条）"), lambda s: s.count(lambda f: f.lead["source"] != "model")),
    (Column("tips_received", "受理群众举报（件）"), lambda s: s.tips.get("received", 0)),
    (Column("tips_verified", "其中：已核实（件）"), lambda s: s.tips.get("verified", 0)),
    (Column("tips_to_leads", "其中：转为或关联线索（件）"), lambda s: s.tips.get("to_leads", 0)),
    (Column("tips_answered", "其中：已答复举报人（件）"), lambda s: s.tips.get("answered", 0)),
    (Column("tips_overdue", "其中：逾期未反馈（件）"), lambda s: s.tips.get("overdue", 0)),
    (Column("tips_rewarded", "举报奖励已发放（件）"), lambda s: s.tips.get("rewarded", 0)),
    (
        Column("tips_reward_amount", "举报奖励金额（万元）", AMOUNT_FORMAT),
        lambda s: wan_value(s.tips.get("reward_amount", Decimal(0))),
    ),
    *[
        (Column(f"status_{code}", f"期末状态：{label}（条）"), lambda s, code=code: s.by_status[code])
        for code, label in LEAD_STATUS.items()
        if code in COUNTED_STATUSES
    ],
    (Column("verified", "完成初核（条）"), lambda s: s.count(lambda f: f.moved(from_status="TRIAGE") is not None)),
    (
        Column("determined", "认定非法集资（条）"),
        lambda s: s.count(lambda f: f.moved(to_status="DETERMINED_ILLEGAL") is not None),
    ),
    *[
        (
            Column(f"measure_{code}", f"{MEASURE_KINDS[code].title_zh}（{unit}）"),
            lambda s, code=code: len(s.measures_of(code)),
        )
        for code, unit in MEASURE_COUNT_UNITS.items()
    ],
    (
        Column("fine_amount", "罚款金额（万元）", AMOUNT_FORMAT),
        lambda s: wan_value(sum((Decimal(str(m["amount"] or 0)) for m in s.measures_of("FINE")), Decimal(0))),
    ),
    (Column("measure_other", "其他处置措施（次）"), lambda s: len(s.measures_of(*_other_kinds()))),
    (Column("amount", "涉案金额（万元）", AMOUNT_FORMAT), lambda s: wan_value(s.total(lambda f: f.lead["total_in"]))),
    (Column("participants", "集资参与人（人）"), lambda s: s.total(lambda f: f.lead["individual_payers"])),
    (
        Column("repaid", "清退金额（万元）", AMOUNT_FORMAT),
        lambda s: wan_value(sum((Decimal(str(m["amount"] or 0)) for m in s.measures_of(*REPAY_KINDS)), Decimal(0))),
    ),
    *[
        (
            Column(f"sector_{code}", f"领域：{sector.label_zh}（条）"),
            lambda s, code=code: s.count(lambda f: code in f.lead["sectors"]),
        )
        for code, sector in SECTORS.items()
    ],
    *[
        (
            Column(f"priority_{code}", f"重点：{label}（条）"),
            lambda s, code=code: s.count(lambda f: code in f.lead["priority"]),
        )
        for code, label in PRIORITY_MARKS.items()
    ],
    (
        Column("notes", "备注"),
        lambda s: "线索按期末状态统计，已合并线索计入合并后的线索；处置措施按本期销号统计；金额为线索转入总额",
    ),
]


def _move_text(event: dict | None) -> str:
    if event is None:
        return ""
    return f"{LEAD_STATUS.get(event['to_status'], event['to_status'])}（{day(event['at'])}）"


def _closing(facts: LeadFacts) -> dict | None:
    return facts.moved(to_status="CLOSED") if facts.status == "CLOSED" else None


def _disposition(facts: LeadFacts) -> str:
    types = list(dict.fromkeys(m["disposition_type"] for m in facts.measures))
    if types:
        return "、".join(DISPOSITION_TYPES[code] for code in types)
    if facts.status in ("CLOSED", "NOT_ILLEGAL"):
        return "排除"
    return ""


def _measures_text(facts: LeadFacts) -> str:
    return "；".join(f"{m['title_zh']}（{'已完成' if m['done'] else '未完成'}）" for m in facts.measures)


LEDGER_COLUMNS: list[tuple[Column, Callable[[LeadFacts], Any]]] = [
    (Column("serial", "序号"), lambda f: f.serial),
    (Column("lead_id", "线索编号"), lambda f: f.lead["lead_id"]),
    (Column("received", "接收日期"), lambda f: day(f.lead["created_at"])),
    (Column("source", "线索来源"), lambda f: LEAD_SOURCES.get(f.lead["source"], f.lead["source"])),
    (Column("subject_name", "主体名称"), lambda f: f.person["subject_name"] or ""),
    (Column("subject_id_no", "统一社会信用代码/身份证号"), lambda f: f.person["subject_id_no"] or ""),
    (Column("business", "业务类型或伪装形式"), lambda f: sector_labels(f.lead["sectors"])),
    (Column("amount", "涉嫌金额（万元）", AMOUNT_FORMAT), lambda f: wan_value(f.lead["total_in"])),
    (Column("participants", "涉嫌参与人数（人）"), lambda f: f.lead["individual_payers"]),
    (Column("regions", "涉及地区"), lambda f: provinces_text(f.lead["provinces"])),
    (Column("triage", "初核结果及日期"), lambda f: _move_text(f.moved(from_status="TRIAGE"))),
    (Column("unit", "承办单位/人员"), lambda f: f.lead["assignee"] or ""),
    (
        Column("determination", "调查认定结果及日期"),
        lambda f: _move_text(f.moved(to_status="DETERMINED_ILLEGAL") or f.moved(to_status="NOT_ILLEGAL")),
    ),
    (Column("disposition", "处置类型"), _disposition),
    (Column("measures", "已采取措施"), _measures_text),
    (Column("transfer_no", "移送案号"), lambda f: "、".join(m["transfer_no"] for m in f.measures if m["transfer_no"])),
    (Column("repaid", "清退金额（万元）", AMOUNT_FORMAT), lambda f: wan_value(f.repaid)),
    (Column("status", "办理状态"), lambda f: "已销号" if f.status == "CLOSED" else "办理中"),
    (Column("state", "期末状态"), lambda f: LEAD_STATUS.get(f.status, f.status)),
    (Column("closed_on", "销号日期"), lambda f: day((_closing(f) or {}).get("at"))),
    (Column("closed_basis", "销号依据"), lambda f: (_closing(f) or {}).get("note", "")),
    (Column("sectors", "重点领域"), lambda f: sector_labels(f.lead["sectors"])),
    (Column("priority", "重点标记"), lambda f: joined_words(f.lead["priority"], PRIORITY_MARKS)),
    (
        Column("notes", "备注"),
        lambda f: f"关联已销号线索 {f.lead['related_lead_id']}" if f.lead["related_lead_id"] else "",
    ),
]


def by_province(facts: LeadFacts) -> list[dict]:
    """Participants and money by the province of the participants' ID numbers (stored at publish)."""
    return (facts.lead["province_stats"] or {}).get("by_province") or []


def _per_province_text(facts: LeadFacts) -> str:
    return "；".join(
        f"{province_name(item['province'])} {item['participants']}人 {wan_value(item['amount'])}万元"
        for item in by_province(facts)
    )


def _last_event(facts: LeadFacts) -> dict:
    return facts.events[-1] if facts.events else {}


CROSS_PROVINCE_COLUMNS: list[tuple[Column, Callable[[LeadFacts], Any]]] = [
    (Column("serial", "序号"), lambda f: f.serial),
    (Column("name", "案件(风险)名称"), lambda f: f"{f.person['subject_name'] or '未知主体'}（{f.lead['lead_id']}）"),
    (
        Column("subject", "涉案主体"),
        lambda f: " ".join(filter(None, (f.person["subject_name"], f.person["subject_id_no"]))),
    ),
    (Column("provinces", "涉及省份"), lambda f: provinces_text(f.lead["provinces"])),
    (Column("province_count", "涉及省份数"), lambda f: len(f.lead["provinces"])),
    (Column("main_place", "主办地"), lambda f: province_name(f.main_province)),
    (
        Column("assisting_places", "协办地"),
        lambda f: provinces_text(code for code in f.lead["provinces"] if code != f.main_province),
    ),
    (Column("amount", "涉案金额（万元）", AMOUNT_FORMAT), lambda f: wan_value(f.lead["total_in"])),
    (Column("participants", "集资参与人总数（人）"), lambda f: f.lead["individual_payers"]),
    (Column("per_province", "分省参与人数及金额"), _per_province_text),
    (Column("province_amount", "分省金额合计（万元）", AMOUNT_FORMAT), lambda f: wan_value(estimated_amount(f.lead))),
    (
        Column("local_participants", "本地参与人（人）"),
        lambda f: (f.lead["province_stats"] or {}).get("local_participants", 0),
    ),
    (
        Column("local_amount", "本地金额（万元）", AMOUNT_FORMAT),
        lambda f: wan_value((f.lead["province_stats"] or {}).get("local_amount", 0)),
    ),
    (Column("stage", "所处阶段"), lambda f: f.stage),
    (Column("authority", "承办单位/联系人"), lambda f: f.lead["assignee"] or ""),
    (Column("progress", "最新进展"), lambda f: _last_event(f).get("note", "")),
    (Column("progress_on", "更新日期"), lambda f: day(_last_event(f).get("at"))),
    (Column("recovery", "资产追缴及清退进展（万元）", AMOUNT_FORMAT), lambda f: wan_value(f.repaid)),
]


# --- facts as of the end of the period --------------------------------------------------------------------


def _events_by_lead(store: CaseStore, lead_ids: list[str], until: datetime) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    with store.read() as conn:
        for start in range(0, len(lead_ids), 500):
            query = (
                sa.select(events)
                .where(events.c.lead_id.in_(lead_ids[start : start + 500]))
                .where(events.c.at < until)
                .order_by(events.c.seq)
            )
            for row in conn.execute(query).mappings():
                found[row["lead_id"]].append(dict(row))
    return found


def _status_at(history: list[dict], moment: datetime) -> str | None:
    """The status after the last event before `moment`; None when the lead did not exist yet."""
    status = None
    for event in history:
        if event["at"] < moment and event["to_status"]:
            status = event["to_status"]
    return status


def period_facts(store: CaseStore, period: Period, unmasked: bool) -> tuple[list[LeadFacts], list[dict]]:
    """The period's leads (those in the ledger at some time in it, or whose money moved in it though the lead
    was opened later; merged ones left out), best score first, and the ledger items closed out within the period."""
    candidates = [
        lead for lead in store.list_leads() if lead["created_at"] < period.ends or _money_moved_in(lead, period)
    ]
    ids = [lead["lead_id"] for lead in candidates]
    history = _events_by_lead(store, ids, period.ends)
    ledger = measures_by_lead(store, ids)
    found: list[LeadFacts] = []
    done_in_period: list[dict] = []
    for lead in candidates:
        lead_events = history[lead["lead_id"]]
        status = _status_at(lead_events, period.ends) or lead["status"]
        before = _status_at(lead_events, period.starts)
        if status == "MERGED" or before in ("CLOSED", "MERGED"):
            continue
        items = [
            dict(m, done=m["status"] == "DONE" and m["done_at"] is not None and m["done_at"] < period.ends)
            for m in ledger[lead["lead_id"]]
            if m["created_at"] < period.ends
        ]
        done_in_period += [m for m in items if m["done"] and _in_period(m["done_at"], period)]
        found.append(LeadFacts(lead, shown(lead, unmasked), status, lead_events, items, serial=len(found) + 1))
    return found, done_in_period


def _sheet(key: str, columns: list[tuple[Column, Callable]], rows: list[dict], unit: str, period: Period) -> Sheet:
    caption = (
        CAMPAIGN_TITLES[key],
        f"填报单位：{unit}    统计期间：{period.label}（{period.start} 至 {period.end}）    金额单位：万元",
    )
    return Sheet(CAMPAIGN_SHEETS[key], [column for column, _ in columns], rows, caption=caption, key_row=False)


def _rows(columns: list[tuple[Column, Callable]], items: list) -> list[dict]:
    return [{column.key: value(item) for column, value in columns} for item in items]


def _with_totals(rows: list[dict], summed: tuple[str, ...]) -> list[dict]:
    """The rows and a 合计 line summing the named columns."""
    total = {"serial": "合计"}
    total.update({key: sum(row[key] for row in rows) for key in summed})
    return rows + [total]


def period_summary(
    settings: Settings, period: Period, unmasked: bool = False, unit: str | None = None, store: CaseStore | None = None
) -> Summary:
    """The period's leads, closed-out ledger items and tips: the one computation behind the campaign tables and
    the console's dashboard, so a figure shown in both is the same number."""
    own_store = store is None
    store = store or CaseStore.open(settings)
    try:
        leads, done = period_facts(store, period, unmasked)
        tips_seen = tip_counts(store, period.starts, period.ends, as_of=period.ends)
    finally:
        if own_store:
            store.close()
    unit = unit or f"县级处置非法集资牵头部门（区划 {settings.county_code}）"
    return Summary(unit, period, leads, done, tips_seen)


def summary_figures(summary: Summary) -> dict:
    """Table (a)'s one row, by column key (status_NEW, sector_elderly_care, amount in 万元 …)."""
    return _rows(SUMMARY_COLUMNS, [summary])[0]


def campaign_sheets(
    settings: Settings, period: Period, unmasked: bool = False, unit: str | None = None, store: CaseStore | None = None
) -> list[Sheet]:
    """The three tables (a, b, c) for `period`, ready for `reports.tables.write_tables`."""
    summary = period_summary(settings, period, unmasked, unit, store)
    leads, unit = summary.leads, summary.unit
    cross_province_min = lead_policy(settings).cross_province_min
    cross = [
        LeadFacts(f.lead, f.person, f.status, f.events, f.measures)
        for f in leads
        if len(f.lead["provinces"]) >= cross_province_min
    ]
    for serial, facts in enumerate(cross, start=1):
        facts.serial = serial
    return [
        _sheet("a", SUMMARY_COLUMNS, [summary_figures(summary)], unit, period),
        _sheet(
            "b",
            LEDGER_COLUMNS,
            _with_totals(_rows(LEDGER_COLUMNS, leads), ("amount", "participants", "repaid")),
            unit,
            period,
        ),
        _sheet(
            "c",
            CROSS_PROVINCE_COLUMNS,
            _with_totals(_rows(CROSS_PROVINCE_COLUMNS, cross), ("amount", "participants", "recovery")),
            unit,
            period,
        ),
    ]


def export_campaign(
    settings: Settings,
    out_path: str | Path,
    user: str | None = None,
    period: str | None = None,
    unmasked: bool = False,
    reason: str | None = None,
    unit: str | None = None,
) -> ExportResult:
    """Write the three tables: .xlsx with one sheet each, or .csv as X.a.csv, X.b.csv and X.c.csv.

    `period` is `2025Q3`, `2025` or `2025-07-01:2025-09-30` (default: the current quarter); `rows` is the
    number of leads in the risk-lead table. Every file is audited with its SHA-256.
    """
    reason = check_unmask(unmasked, reason)
    user = export_user(user)
    out = Path(out_path)
    export_format(out)
    store = CaseStore.open(settings)
    try:
        chosen = parse_period(period, store.today())
        sheets = campaign_sheets(settings, chosen, unmasked, unit, store)
    finally:
        store.close()
    files = write_tables(out, sheets, csv_suffixes=(".a", ".b", ".c"))
    leads = len(sheets[1].rows) - 1
    record_export(
        settings,
        user,
        "campaign",
        files,
        unmasked,
        reason,
        detail={
            "period": [chosen.start.isoformat(), chosen.end.isoformat()],
            "leads": leads,
            "cross_province": len(sheets[2].rows) - 1,
        },
    )
    return ExportResult(path=files[0][0], sha256=files[0][1], rows=leads, files=tuple(files))
