"""What the console shows, built from the case store only: the filtered queue, a lead's page, the evidence
graph and timeline as JSON. Numbers are masked here; the routes in `console.app` only render what this returns.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from pipelines.cases import lifecycle, parts
from pipelines.cases.evidence import INNER_ROLES
from pipelines.cases.sectors import SECTORS
from pipelines.cases.store import CaseStore, audit
from pipelines.cases.timeline import lead_timeline
from pipelines.errors import LifecycleError
from pipelines.masking import mask_account, mask_id
from pipelines.vocabulary import (
    ACCOUNT_ROLES,
    ACTION_LABELS,
    DIRECTION,
    DISPOSITION_TYPES,
    FLOW_KINDS,
    LEAD_STATUS,
    LEAD_WHY,
    MEASURE_STATUSES,
    PAYMENT_METHODS,
    PRIORITY_MARKS,
    PROVINCES,
    QUEUE_SORTS,
    TYPOLOGIES,
)

# Investors beyond this many are drawn as one expandable node, so a 2,000-account lead stays readable.
GROUP_INVESTORS_ABOVE = 40
NODE_PAYMENT_ROWS = 300
MEASURE_OVERDUE_DAYS = 7  # DOMAIN §6.3: ledger items overdue by more than this are highlighted

QUEUE_PAGE_ROWS = 50
QUEUE_SORT_COLUMNS = {"score": "score", "amount": "total_in", "participants": "individual_payers"}


@dataclass(frozen=True)
class QueueFilter:
    status: str = ""
    priority: str = ""
    typology: str = ""
    sector: str = ""
    region: str = ""
    assignee: str = ""
    overdue: bool = False
    sort: str = "score"
    view: str = ""  # a QUEUE_VIEWS key: whose work this list is


def is_overdue(lead: dict, today: date) -> bool:
    return bool(lead["due_date"]) and lead["due_date"] < today and lead["status"] in lifecycle.OPEN_STATUSES


def lead_regions(lead: dict) -> list[str]:
    """Province codes a lead touches: the subject's own and its participants'."""
    found = list(lead["provinces"] or [])
    if lead["subject_region"] and lead["subject_region"][:2] not in found:
        found.insert(0, lead["subject_region"][:2])
    return found


def province_label(code: str) -> str:
    return PROVINCES.get(code, code)


def awaiting_confirmation(lead: dict, user: str) -> bool:
    """A proposed close-out that `user` (not the proposer) could confirm."""
    return bool(lead["close_proposed_by"]) and lead["close_proposed_by"] != user and lead["status"] != "CLOSED"


def queue(store: CaseStore, chosen: QueueFilter, user: str = "") -> list[dict]:
    today = store.today()
    if chosen.view == "mine":
        chosen = replace(chosen, assignee=user)
    elif chosen.view == "overdue":
        chosen = replace(chosen, overdue=True)
    found = store.list_leads(
        status=chosen.status or None,
        priority=chosen.priority or None,
        sector=chosen.sector or None,
        assignee=chosen.assignee or None,
    )
    if chosen.typology:
        found = [lead for lead in found if chosen.typology in (lead["typologies"] or [])]
    if chosen.region:
        found = [lead for lead in found if chosen.region in lead_regions(lead)]
    if chosen.overdue:
        found = [lead for lead in found if is_overdue(lead, today)]
    if chosen.view == "mine":
        found = [lead for lead in found if lead["status"] in lifecycle.OPEN_STATUSES or lead["status"] == "ON_HOLD"]
    if chosen.view == "confirm":
        found = [lead for lead in found if awaiting_confirmation(lead, user)]
    column = QUEUE_SORT_COLUMNS.get(chosen.sort, QUEUE_SORT_COLUMNS["score"])
    if column != "score":  # by score, list_leads' order stands: the ranking in use (model or rules)
        found.sort(key=lambda lead: (float(lead[column] or 0), lead["lead_id"]), reverse=True)
    return [queue_row(lead, today) for lead in found]


def queue_row(lead: dict, today: date) -> dict:
    return {
        "lead_id": lead["lead_id"],
        "status": lead["status"],
        "status_label": LEAD_STATUS.get(lead["status"], lead["status"]),
        "close_pending": bool(lead["close_proposed_by"]) and lead["status"] != "CLOSED",
        "subject_name": lead["subject_name"] or "",
        "subject_id": mask_id(lead["subject_id_no"]),
        "hub_account": mask_account(lead["hub_account"]),
        "score": lead["score"],
        "total_in": float(lead["total_in"]),
        "total_out": float(lead["total_out"]),
        "participants": lead["individual_payers"],
        "elderly_share": lead["elderly_share"],
        "typologies": [TYPOLOGIES.get(code, code) for code in lead["typologies"] or []],
        "sectors": [SECTORS[code].label_zh if code in SECTORS else code for code in lead["sectors"] or []],
        "regions": [province_label(code) for code in lead_regions(lead)],
        "priority": [priority_label(code) for code in lead["priority"] or []],
        "assignee": lead["assignee"] or "",
        "due_date": lead["due_date"],
        "overdue": is_overdue(lead, today),
        "created_at": lead["created_at"],
    }


def priority_label(code: str) -> str:
    return PRIORITY_MARKS.get(code, code)


def queue_choices(store: CaseStore) -> dict:
    """Values the queue's filter menus offer, taken from the leads that exist."""
    every = store.list_leads()
    typologies = sorted({code for lead in every for code in lead["typologies"] or []})
    priorities = sorted({code for lead in every for code in lead["priority"] or []})
    regions = sorted({code for lead in every for code in lead_regions(lead)})
    assignees = sorted({lead["assignee"] for lead in every if lead["assignee"]})
    return {
        "statuses": list(LEAD_STATUS.items()),
        "typologies": [(code, TYPOLOGIES.get(code, code)) for code in typologies],
        "priorities": [(code, priority_label(code)) for code in priorities],
        "sectors": [(code, sector.label_zh) for code, sector in SECTORS.items()],
        "regions": [(code, province_label(code)) for code in regions],
        "assignees": assignees,
        "sorts": list(QUEUE_SORTS.items()),
    }


def node_key(secret: str, account_no: str) -> str:
    """A stable, opaque id for an account in URLs and the graph, so raw account numbers never reach the page."""
    return "a" + hashlib.blake2b(account_no.encode(), key=secret.encode()[:64], digest_size=8).hexdigest()


def party_label(name: str | None, account_no: str | None) -> str:
    if not account_no:
        return "现金"
    return f"{name or ''} {mask_account(account_no)}".strip()


def lead_page(lead: dict, role: str, today: date) -> dict:
    """Everything the lead page shows, masked; `lead` is `CaseStore.get_lead`'s result."""
    names = {account["account_no"]: account["account_name"] for account in lead["accounts"]}
    measures = [
        dict(
            item,
            type_label=DISPOSITION_TYPES.get(item["disposition_type"], item["disposition_type"]),
            status_label=MEASURE_STATUSES.get(item["status"], item["status"]),
            overdue=item["status"] != "DONE"
            and item["due_date"] is not None
            and item["due_date"] < today - timedelta(days=MEASURE_OVERDUE_DAYS),
        )
        for item in lead["measures"]
    ]
    events = _event_rows(lead["events"])
    roles_count: dict[str, int] = defaultdict(int)
    for account in lead["accounts"]:
        roles_count[account["role"]] += 1
    return {
        "row": queue_row(lead, today),
        "lead": lead,
        "narrative": lead["narrative"],
        "reasons": lead["reasons"] or [],
        "alerts": [
            dict(alert, account_label=party_label(names.get(alert["subject"]), alert["subject"]))
            for alert in lead["alerts"]
        ],
        "window_start": lead["window_start"],
        "window_end": lead["window_end"],
        "account_count": len(lead["accounts"]),
        "roles_count": [(ACCOUNT_ROLES.get(role, role), count) for role, count in roles_count.items()],
        "payment_count": len(lead["payments"]),
        "flows": lead_flows(lead),
        "also_in": lead.get("also_in") or [],
        "why": [LEAD_WHY.get(note.get("kind"), note.get("kind")) for note in lead.get("why") or []],
        "measures": measures,
        "events": events,
        "split": parts.split_links(lead),
        "earlier_events": _event_rows(lead.get("earlier_events") or []),
        "moves": [(status, LEAD_STATUS[status]) for status in lifecycle.allowed_moves(lead, role)],
        "close_proposed_by": lead["close_proposed_by"],
        # A closed or merged lead is history: it shows no forms that could only be refused.
        "live": lead["status"] in lifecycle.OPEN_STATUSES or lead["status"] == "ON_HOLD",
        "closed_by": next((e["user"] for e in reversed(lead["events"]) if e["to_status"] == "CLOSED"), None),
        "may_work": role in lifecycle.WORKERS,
        "may_sign": role in lifecycle.SIGNERS,
        "may_propose_close": "CLOSED" in lifecycle.ALLOWED.get(lead["status"], {}) and not lead["close_proposed_by"],
        "may_confirm_close": bool(lead["close_proposed_by"]) and lead["status"] != "CLOSED",
        "may_add_measure": lead["status"] in lifecycle.MEASURE_EDIT_STATUSES,
        "measure_kinds": [
            (code, kind.title_zh, DISPOSITION_TYPES[kind.disposition_type])
            for code, kind in lifecycle.MEASURE_KINDS.items()
        ],
    }


def _event_rows(events: list[dict]) -> list[dict]:
    """Events newest first, with their action and statuses in Chinese."""
    return [
        dict(
            event,
            action_label=ACTION_LABELS.get(event["action"], event["action"]),
            from_label=LEAD_STATUS.get(event["from_status"] or "", event["from_status"] or ""),
            to_label=LEAD_STATUS.get(event["to_status"] or "", event["to_status"] or ""),
        )
        for event in reversed(events)
    ]


def lead_flows(lead: dict) -> list[dict]:
    """The lead's money by kind of flow, from its stored figures: amount, and how many payments the page shows
    of how many there are ("显示 N / 共 M 笔")."""
    kinds = (lead.get("figures") or {}).get("flows") or {}
    return [
        {
            "kind": kind,
            "label": label,
            "amount": float(kinds[kind]["amount"]),
            "shown": kinds[kind]["shown"],
            "count": kinds[kind]["count"],
            "sampled": kinds[kind]["shown"] < kinds[kind]["count"],
        }
        for kind, label in FLOW_KINDS.items()
        if kind in kinds and kinds[kind]["count"]
    ]


def unmask_choices(lead: dict, secret: str, limit: int = 60) -> list[tuple[str, str]]:
    """What may be unmasked on this lead: the subject's ID, and the core accounts' numbers and holders' IDs."""
    choices = []
    if lead["subject_id_no"]:
        choices.append(("subject_id", f"主体证件号码 {mask_id(lead['subject_id_no'])}（{lead['subject_name'] or ''}）"))
    core_first = sorted(lead["accounts"], key=lambda a: (a["role"] == "investor", -float(a["total_in"] or 0)))
    for account in core_first[:limit]:
        key = node_key(secret, account["account_no"])
        role = ACCOUNT_ROLES.get(account["role"], account["role"])
        choices.append(
            (f"account:{key}", f"账号 {mask_account(account['account_no'])}（{account['account_name'] or ''}，{role}）")
        )
        if account["holder_id_no"]:
            choices.append(
                (f"holder_id:{key}", f"证件号码 {mask_id(account['holder_id_no'])}（{account['account_name'] or ''}）")
            )
    return choices


def unmask_value(lead: dict, secret: str, choice: str) -> tuple[str, str] | None:
    """(what, whole number) for an unmask choice, or None when the lead has no such number."""
    if choice == "subject_id":
        return ("主体证件号码", lead["subject_id_no"]) if lead["subject_id_no"] else None
    kind, _, key = choice.partition(":")
    for account in lead["accounts"]:
        if node_key(secret, account["account_no"]) == key:
            if kind == "account":
                return f"{account['account_name'] or ''} 账号", account["account_no"]
            if kind == "holder_id" and account["holder_id_no"]:
                return f"{account['account_name'] or ''} 证件号码", account["holder_id_no"]
    return None


def unmasked_by_audit(
    store: CaseStore, secret: str, lead_id: str, user: str, seq: int, minutes: int
) -> tuple[str, str] | None:
    """What an unmask (audit record `seq`) revealed, for the page it redirected to; None unless that record is
    this user's unmask of this lead within the last `minutes`."""
    with store.read() as conn:
        row = conn.execute(sa.select(audit).where(audit.c.seq == seq)).mappings().first()
    if row is None or row["action"] != "unmask" or row["user"] != user or row["target"] != lead_id:
        return None
    if store.now() - row["at"] > timedelta(minutes=minutes):
        return None
    return unmask_value(store.get_lead(lead_id), secret, row["detail"].get("choice", ""))


def _day(value: datetime) -> str:
    return value.date().isoformat()


def _in_range(payments: list[dict], start: date | None, end: date | None) -> list[dict]:
    return [
        p
        for p in payments
        if (start is None or p["txn_time"].date() >= start) and (end is None or p["txn_time"].date() <= end)
    ]


def graph(lead: dict, secret: str, start: date | None = None, end: date | None = None, expand: bool = False) -> dict:
    """The evidence graph as Cytoscape-ready nodes and edges, with the inflow/outflow timeline.

    Accounts become nodes sized by the money through them; edges sum the payments between two nodes and carry
    `t` (0 = the lead's first day, 1 = its last) for their latest payment. Many investors fold into one node.
    """
    all_payments = lead["payments"]
    first = min((p["txn_time"] for p in all_payments), default=None)
    last = max((p["txn_time"] for p in all_payments), default=None)
    if (
        first is not None
        and last is not None
        and (start is None or start <= first.date())
        and (end is None or end >= last.date())
    ):
        start = end = None  # the pre-filled whole range is no filter: every account stays drawn
    chosen = _in_range(all_payments, start, end)
    filtered = start is not None or end is not None
    accounts = {a["account_no"]: a for a in lead["accounts"]}
    investors = [no for no, a in accounts.items() if a["role"] == "investor"]
    grouped = len(investors) > GROUP_INVESTORS_ABOVE and not expand

    nodes: dict[str, dict] = {}

    def node_of(account_no: str | None, name: str | None) -> str:
        if account_no is None:
            node_id, label, role = "cash", "现金", "other"
        elif grouped and account_no in accounts and accounts[account_no]["role"] == "investor":
            node_id, label, role = "g-investor", f"集资参与人 {len(investors):,} 人", "investor"
        else:
            known = accounts.get(account_no)
            node_id = node_key(secret, account_no)
            role = known["role"] if known else "other"
            label = f"{(known or {}).get('account_name') or name or ''}\n{mask_account(account_no)}"
        if node_id not in nodes:
            nodes[node_id] = {
                "id": node_id,
                "label": label,
                "role": role,
                "total_in": 0.0,
                "total_out": 0.0,
                "count": 0,
                "grouped": node_id == "g-investor",
            }
        return node_id

    if not filtered:
        for account_no, account in accounts.items():
            node_of(account_no, account["account_name"])
    span = max((last - first).total_seconds(), 1.0) if first else 1.0
    edges: dict[tuple[str, str], dict] = {}
    for payment in chosen:
        amount = float(payment["amount"] or 0)
        source = node_of(payment["payer_account"], payment["payer_name"])
        target = node_of(payment["payee_account"], payment["payee_name"])
        nodes[source]["total_out"] += amount
        nodes[target]["total_in"] += amount
        nodes[source]["count"] += 1
        nodes[target]["count"] += 1
        if source == target:
            continue  # investor-to-investor inside the folded node
        edge = edges.setdefault(
            (source, target),
            {
                "source": source,
                "target": target,
                "amount": 0.0,
                "count": 0,
                "first": payment["txn_time"],
                "last": payment["txn_time"],
            },
        )
        edge["amount"] += amount
        edge["count"] += 1
        edge["first"] = min(edge["first"], payment["txn_time"])
        edge["last"] = max(edge["last"], payment["txn_time"])
    for node in nodes.values():
        node["amount"] = node["total_in"] + node["total_out"]
    edge_list = [
        {
            "id": f"e{number}",
            "source": edge["source"],
            "target": edge["target"],
            "amount": round(edge["amount"], 2),
            "count": edge["count"],
            "first": edge["first"].isoformat(sep=" "),
            "last": edge["last"].isoformat(sep=" "),
            "t": round((edge["last"] - first).total_seconds() / span, 4),
        }
        for number, edge in enumerate(edges.values())
    ]
    paying = {p["payer_account"] for p in chosen} | {p["payee_account"] for p in chosen}
    return {
        "accounts": len(accounts),
        # accounts of the lead with no listed payment (in the range): said in the summary, not dropped silently
        "without_payments": sum(1 for no in accounts if no not in paying),
        "filtered": filtered,
        "grouped": len(investors) if grouped else 0,
        "nodes": list(nodes.values()),
        "edges": edge_list,
        "range": {
            "first": _day(first) if first else None,
            "last": _day(last) if last else None,
            "start": start.isoformat() if start else (_day(first) if first else None),
            "end": end.isoformat() if end else (_day(last) if last else None),
        },
        "timeline": timeline(lead),
    }


def timeline(lead: dict) -> list[dict]:
    """The lead's timeline (pipelines.cases.timeline, the one the dossier prints), days as ISO dates."""
    return [
        {"day": bucket["day"].isoformat(), "inflow": bucket["inflow"], "outflow": bucket["outflow"]}
        for bucket in lead_timeline(lead)
    ]


def account_detail(lead: dict, secret: str, key: str, start: date | None, end: date | None) -> dict | None:
    """One node's totals and payments (masked), or None when the key is not an account of this lead."""
    found = next((a for a in lead["accounts"] if node_key(secret, a["account_no"]) == key), None)
    if found is None:
        return None
    account_no = found["account_no"]
    names = {a["account_no"]: a["account_name"] for a in lead["accounts"]}
    rows, totals = [], {"IN": [0.0, 0], "OUT": [0.0, 0]}
    for payment in _in_range(lead["payments"], start, end):
        if account_no not in (payment["payer_account"], payment["payee_account"]):
            continue
        direction = "IN" if payment["payee_account"] == account_no else "OUT"
        other_no = payment["payer_account"] if direction == "IN" else payment["payee_account"]
        other_name = payment["payer_name"] if direction == "IN" else payment["payee_name"]
        amount = float(payment["amount"] or 0)
        totals[direction][0] += amount
        totals[direction][1] += 1
        rows.append(
            {
                "time": payment["txn_time"].isoformat(sep=" ", timespec="minutes"),
                "direction": direction,
                "direction_label": DIRECTION[direction],
                "counterparty": party_label(other_name or names.get(other_no), other_no),
                "amount": amount,
                "memo": payment["memo"] or "",
            }
        )
    return {
        "name": found["account_name"] or "",
        "account": mask_account(account_no),
        "role": found["role"],
        "role_label": ACCOUNT_ROLES.get(found["role"], found["role"]),
        "total_in": totals["IN"][0],
        "count_in": totals["IN"][1],
        "total_out": totals["OUT"][0],
        "count_out": totals["OUT"][1],
        "payments": rows[:NODE_PAYMENT_ROWS],
        "truncated": len(rows) > NODE_PAYMENT_ROWS,
    }


def edge_payments(lead: dict, secret: str, source: str, target: str, start: date | None, end: date | None) -> dict:
    """The payments behind one graph edge (source node → target node), masked; node ids as `graph` makes them."""
    accounts = {a["account_no"]: a for a in lead["accounts"]}
    names = {no: a["account_name"] for no, a in accounts.items()}

    def ids_of(account_no: str | None) -> set[str]:
        if account_no is None:
            return {"cash"}
        found = {node_key(secret, account_no)}
        if account_no in accounts and accounts[account_no]["role"] == "investor":
            found.add("g-investor")
        return found

    rows, total = [], 0.0
    for payment in _in_range(lead["payments"], start, end):
        if source in ids_of(payment["payer_account"]) and target in ids_of(payment["payee_account"]):
            amount = float(payment["amount"] or 0)
            total += amount
            rows.append(
                {
                    "time": payment["txn_time"].isoformat(sep=" ", timespec="minutes"),
                    "payer": party_label(
                        payment["payer_name"] or names.get(payment["payer_account"]), payment["payer_account"]
                    ),
                    "payee": party_label(
                        payment["payee_name"] or names.get(payment["payee_account"]), payment["payee_account"]
                    ),
                    "amount": amount,
                    "memo": payment["memo"] or "",
                }
            )
    return {
        "count": len(rows),
        "total": round(total, 2),
        "payments": rows[:NODE_PAYMENT_ROWS],
        "truncated": len(rows) > NODE_PAYMENT_ROWS,
    }


def account_no_of(lead: dict, secret: str, key: str) -> str | None:
    """The account number behind a node key of this lead (stays on the server)."""
    return next((a["account_no"] for a in lead["accounts"] if node_key(secret, a["account_no"]) == key), None)


SPLIT_PARTS = 4
"""Parts the console's split form offers; the CLI takes any number."""


def split_choices(lead: dict, secret: str, limit: int = 60) -> list[dict]:
    """The accounts a split can make a part's core — inside the core's boundary (hub, collectors, others), the hub
    first, then by money in — masked, each with its node key for the form."""
    inner = [a for a in lead["accounts"] if a["role"] in INNER_ROLES]
    inner.sort(key=lambda a: (a["account_no"] != lead["hub_account"], a["role"] != "hub", -float(a["total_in"] or 0)))
    return [
        {
            "key": node_key(secret, a["account_no"]),
            "label": party_label(a["account_name"], a["account_no"]),
            "role": ACCOUNT_ROLES.get(a["role"], a["role"]),
            "total_in": a["total_in"],
        }
        for a in inner[:limit]
    ]


def split_cores(lead: dict, secret: str, chosen: list[str]) -> list[list[str]]:
    """The parts' cores from the split form: each `core` value is "PART:NODE_KEY" (empty: not a core); parts are
    taken in their numbers' order, so parts 1 and 3 alone are two parts."""
    by_part: dict[int, list[str]] = defaultdict(list)
    for value in chosen:
        if not value:
            continue
        number, _, key = value.partition(":")
        account_no = account_no_of(lead, secret, key)
        if not number.isdigit() or account_no is None:
            raise LifecycleError(f"拆分表单有误 / core: '{value[:40]}' is no account of this lead")
        by_part[int(number)].append(account_no)
    return [by_part[number] for number in sorted(by_part)]


def notes_shown(lead: dict) -> list[dict]:
    """The lead's notes, newest first, accounts masked."""
    return [
        dict(note, account=mask_account(note["account_no"]) if note["account_no"] else "")
        for note in reversed(lead.get("notes", []))
    ]


def note_accounts(lead: dict, secret: str, limit: int = 60) -> list[tuple[str, str]]:
    """(node key, label) of the accounts a note can be about: the core accounts first."""
    core_first = sorted(lead["accounts"], key=lambda a: (a["role"] == "investor", -float(a["total_in"] or 0)))
    return [
        (node_key(secret, a["account_no"]), f"{a['account_name'] or ''} {mask_account(a['account_no'])}")
        for a in core_first[:limit]
    ]


PAYMENT_PAGE_ROWS = 100
PAYMENT_SORTS = ("time", "amount", "payer", "payee")


@dataclass(frozen=True)
class PaymentFilter:
    """The lead page's 交易明细 table: which payments, in which order, which page."""

    start: date | None = None
    end: date | None = None
    min_amount: float | None = None
    max_amount: float | None = None
    flow: str = ""  # a FLOW_KINDS code, or "" for every kind
    party: str = ""  # counterparty: part of a name, the last 4 digits of an account, or a whole account number
    sort: str = "time"
    descending: bool = False


def _party_matches(query: str, name: str | None, account_no: str | None) -> bool:
    """Names by any part; numbers only by what the masked display shows (last 4) or in whole, so a search cannot
    reveal the masked digits one by one."""
    compact = query.replace(" ", "")
    if compact.isdigit():
        if not account_no:
            return False
        return account_no == compact or (len(compact) == 4 and account_no.endswith(compact))
    return query.lower() in (name or "").lower()


def payments_chosen(lead: dict, chosen: PaymentFilter) -> list[dict]:
    """The lead's evidence payments that pass the filter, sorted; each row as the page and the export show it."""
    names = {account["account_no"]: account["account_name"] for account in lead["accounts"]}
    rows = []
    for payment in _in_range(lead["payments"], chosen.start, chosen.end):
        amount = float(payment["amount"] or 0)
        if chosen.min_amount is not None and amount < chosen.min_amount:
            continue
        if chosen.max_amount is not None and amount > chosen.max_amount:
            continue
        if chosen.flow and payment.get("flow") != chosen.flow:
            continue
        payer_name = payment["payer_name"] or names.get(payment["payer_account"])
        payee_name = payment["payee_name"] or names.get(payment["payee_account"])
        if chosen.party and not (
            _party_matches(chosen.party, payer_name, payment["payer_account"])
            or _party_matches(chosen.party, payee_name, payment["payee_account"])
        ):
            continue
        rows.append(
            {
                "time": payment["txn_time"],
                "payer": party_label(payer_name, payment["payer_account"]),
                "payee": party_label(payee_name, payment["payee_account"]),
                "amount": amount,
                "flow": FLOW_KINDS.get(payment.get("flow") or "", ""),
                "method": PAYMENT_METHODS.get(payment["method"], payment["method"]),
                "purpose": payment["purpose"] or "",
                "memo": payment["memo"] or "",
            }
        )
    key = chosen.sort if chosen.sort in PAYMENT_SORTS else "time"
    rows.sort(key=lambda row: (row[key], row["time"]), reverse=chosen.descending)
    return rows


def payments_page(lead: dict, chosen: PaymentFilter, page_no: int) -> dict:
    """One page of the filtered payments, with how many match and their sum."""
    rows = payments_chosen(lead, chosen)
    pages_total = max(1, -(-len(rows) // PAYMENT_PAGE_ROWS))
    page_no = min(max(page_no, 1), pages_total)
    return {
        "rows": rows[(page_no - 1) * PAYMENT_PAGE_ROWS : page_no * PAYMENT_PAGE_ROWS],
        "count": len(rows),
        "total": round(sum(row["amount"] for row in rows), 2),
        "page_no": page_no,
        "pages_total": pages_total,
        "kinds": [(code, label) for code, label in FLOW_KINDS.items()],
        "filtered": chosen != PaymentFilter(sort=chosen.sort, descending=chosen.descending),
    }
