"""Splitting a lead that an earlier version merged (拆分线索): an analyst names each part's core account(s); every
other account goes with the core its money is tied to (pipelines.cases.parts); each part's figures come from the
one computation publishing uses (`publish.part_rings`) over the warehouse's payments. The first part keeps the
lead's number, each further part is a new lead, and every part gets an event. Publishing keeps the parts apart
afterwards: a ring holding the cores of two parts is divided the same way (`publish.divide_split_rings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import duckdb
from sqlalchemy.engine import Connection

from pipelines.cases import lifecycle, publish
from pipelines.cases import parts as parts_rule
from pipelines.cases.evidence import INNER_ROLES
from pipelines.cases.store import (
    CaseStore,
    lead_accounts,
    lead_alerts,
    lead_payments,
    lead_runs,
    leads,
    measures,
)
from pipelines.errors import LifecycleError
from pipelines.masking import mask_account
from pipelines.vocabulary import LEAD_STATUS


@dataclass(frozen=True)
class SplitResult:
    lead_ids: tuple[str, ...]
    """The parts, the original (first) first."""
    seqs: tuple[int, ...]
    """The event each part got."""


def check_cores(lead: dict, cores: list[list[str]]) -> list[list[str]]:
    """The parts' cores, cleaned, or a LifecycleError naming the field (`core`, part N) and what is wrong."""
    cleaned = [[a.strip() for a in part if a.strip()] for part in cores]
    if len(cleaned) < 2:
        raise LifecycleError(
            f"拆分至少需要两部分，每部分用一个 --core 给出核心账户 / core: a split needs at least 2 parts "
            f"(one --core per part), got {len(cleaned)}"
        )
    roles = {a["account_no"]: a["role"] for a in lead["accounts"]}
    seen: dict[str, int] = {}
    for number, part in enumerate(cleaned, start=1):
        if not part:
            raise LifecycleError(f"第 {number} 部分没有核心账户 / core (part {number}): no account given")
        for account in part:
            if account not in roles:
                raise LifecycleError(
                    f"第 {number} 部分的核心账户 {mask_account(account)} 不在线索 {lead['lead_id']} 中 / "
                    f"core (part {number}): account {mask_account(account)} is not in lead {lead['lead_id']}"
                )
            if roles[account] not in INNER_ROLES:
                raise LifecycleError(
                    f"第 {number} 部分的核心账户 {mask_account(account)} 是「{roles[account]}」账户，"
                    f"核心须为归集、代收或其他关联账户 / core (part {number}): account {mask_account(account)} "
                    f"is a {roles[account]} account; a core is one of {', '.join(INNER_ROLES)}"
                )
            if account in seen:
                raise LifecycleError(
                    f"核心账户 {mask_account(account)} 重复出现在第 {seen[account]} 和第 {number} 部分 / "
                    f"core (part {number}): account {mask_account(account)} is already in part {seen[account]}"
                )
            seen[account] = number
    return cleaned


def _as_ring(lead: dict) -> publish.RingFacts:
    """A stored lead as the ring publishing last saw, to be divided."""
    alert_rules = {a["rule_id"] for a in lead["alerts"]}
    return publish.RingFacts(
        ring_key=lead["ring_key"],
        run_id=lead["last_run_id"] or lead["lead_id"],
        hub_account=lead["hub_account"],
        window_start=lead["window_start"],
        window_end=lead["window_end"],
        total_in=Decimal(lead["total_in"]),
        total_out=Decimal(lead["total_out"]),
        individual_payers=lead["individual_payers"],
        elderly_share=lead["elderly_share"],
        provinces=list(lead["provinces"]),
        score=lead["score"],
        typologies=list(lead["typologies"]),
        accounts=[dict(a) for a in lead["accounts"]],
        alerts=[dict(a) for a in lead["alerts"]],
        payments=[dict(p, amount_cny=p["amount"]) for p in lead["payments"]],
        why=[note for note in lead.get("why") or [] if note.get("kind") != "analyst_split"],
        lookalike=[r for r in lead["reasons"] if r["rule_id"] not in alert_rules],
        marks=[m for m in lead["priority"] if m in publish.LOOKALIKE_MARKS],
    )


def split_lead(
    store: CaseStore,
    warehouse_con: duckdb.DuckDBPyConnection,
    lead_id: str,
    cores: list[list[str]],
    user: str | None,
    reason: str | None,
) -> SplitResult:
    """Split one lead into parts around `cores` (one list of accounts per part); see the module docstring.

    The parts are worked out from the lead as read and the warehouse, then written in one case-store
    transaction that refuses if the lead changed meanwhile (a publish or another analyst)."""
    if not reason or not reason.strip():
        raise LifecycleError("须填写拆分理由 / reason: a reason is required")
    reason = reason.strip()
    lead = store.get_lead(lead_id)
    _check_splittable(store, lead, user)
    cores = check_cores(lead, cores)
    if lead["window_start"] is None or lead["window_end"] is None:
        raise LifecycleError(f"线索 {lead_id} 没有资金时间窗口，不能拆分 / the lead has no money window to split")
    parent = _as_ring(lead)
    roles = {a["account_no"]: a["role"] for a in lead["accounts"]}
    ties = parts_rule.money_ties(warehouse_con, list(roles), lead["window_start"], lead["window_end"])
    parts = parts_rule.assign_accounts(roles, cores, ties)
    policy = publish.lead_policy(store.settings)

    with store.write() as conn:
        locked = store.lock_lead(conn, lead_id)
        if locked["updated_at"] != lead["updated_at"]:
            raise LifecycleError(
                f"线索 {lead_id} 刚被更新（{locked['updated_at']:%H:%M:%S}），请刷新后重试 / "
                "the lead changed meanwhile; reload and try again"
            )
        acting = _check_splittable(store, locked, user, conn)
        first_new = publish._next_lead_id(conn, store.now().year)
        ids = [lead_id] + [f"{first_new[:-6]}{int(first_new[-6:]) + n:06d}" for n in range(len(parts) - 1)]
        # each part's key is the one detection gives a ring around its hub, so the next run finds its own part
        keys = [parts_rule.ring_key_of(part[0]) for part in cores]
        rings = publish.part_rings(warehouse_con, parent, parts, keys, store.settings.county_code)
        note = {"kind": "analyst_split", "split_from": lead_id, "parts": ids, "by": acting["name"]}
        now = store.now()
        # the original keeps the splits it went through before; a new part starts its own record of them
        earlier_splits = [n for n in lead.get("why") or [] if n.get("kind") == "analyst_split"]
        for part_id, ring in zip(ids, rings):
            ring.why = ring.why + (earlier_splits if part_id == lead_id else []) + [note]
            fields = publish._computed_fields(ring, policy)
            # marks publishing does not compute (a tip's) stay on every part
            fields["priority"] += [
                m for m in lead["priority"] if m not in publish.COMPUTED_MARKS + publish.LOOKALIKE_MARKS
            ]
            if part_id == lead_id:
                conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(**fields, updated_at=now))
            else:
                _insert_part(conn, lead, part_id, ring.ring_key, fields, now)
            _replace_evidence(conn, lead, part_id, ring)
        seqs = []
        detail = {
            "split_from": lead_id,
            "parts": ids,
            "cores": {part_id: [mask_account(a) for a in part] for part_id, part in zip(ids, cores)},
            "accounts": {part_id: len(part) for part_id, part in zip(ids, parts)},
        }
        for part_id in ids:
            action = "split" if part_id == lead_id else "split_from"
            seqs.append(
                store.append_event(
                    conn, part_id, acting["name"], action, reason, lead["status"], lead["status"], detail, now
                )
            )
    return SplitResult(tuple(ids), tuple(seqs))


def _check_splittable(store: CaseStore, lead: dict, user: str | None, conn: Connection | None = None) -> dict:
    if lead["status"] not in lifecycle.OPEN_STATUSES + ("ON_HOLD",):
        raise LifecycleError(
            f"线索 {lead['lead_id']} 当前为「{LEAD_STATUS[lead['status']]}」，不能拆分 / "
            f"a {lead['status']} lead cannot be split"
        )
    if conn is None:
        with store.read() as own:
            return _check_splittable(store, lead, user, own)
    return lifecycle._acting_user(store, conn, user, ("拆分线索", "split leads"), lifecycle.ACTION_ROLES["split"])


def _insert_part(conn: Connection, lead: dict, part_id: str, ring_key: str, fields: dict, now: datetime) -> None:
    """A new lead for a further part: the analysts' side (status, assignee, due date, ledger, runs) as the
    lead's, the computed side its own."""
    kept = {
        name: lead[name]
        for name in (
            "status",
            "hold_from",
            "hold_since",
            "source",
            "assignee",
            "due_date",
            "related_lead_id",
            "close_proposed_by",
            "close_proposed_at",
            "first_run_id",
            "last_run_id",
            "rank_score",
        )
    }
    conn.execute(
        leads.insert().values(lead_id=part_id, ring_key=ring_key, **kept, **fields, created_at=now, updated_at=now)
    )
    for run in lead["runs"]:
        conn.execute(lead_runs.insert().values(dict(run, lead_id=part_id)))
    for item in lead["measures"]:
        conn.execute(
            measures.insert().values({k: v for k, v in item.items() if k != "measure_id"} | {"lead_id": part_id})
        )


def _replace_evidence(conn: Connection, lead: dict, part_id: str, ring: publish.RingFacts) -> None:
    """The part's accounts, alerts and payments; a payment keeps the run that first brought it."""
    accounts, alerts, payments = publish._evidence_rows(ring, part_id)
    first_run = {p["payment_id"]: p["run_id"] for p in lead["payments"]}
    for row in payments:
        row["run_id"] = first_run.get(row["payment_id"], row["run_id"])
    for table in (lead_accounts, lead_alerts, lead_payments):
        conn.execute(table.delete().where(table.c.lead_id == part_id))
    for table, rows in ((lead_accounts, accounts), (lead_alerts, alerts), (lead_payments, payments)):
        if rows:
            conn.execute(table.insert(), rows)


def split_lead_in_home(
    store: CaseStore, lead_id: str, cores: list[list[str]], user: str | None, reason: str | None
) -> SplitResult:
    """`split_lead` over the home's warehouse, opened read-only (refused, retry later, while a run writes it)."""
    from pipelines.warehouse import db as warehouse

    con = warehouse.connect(store.settings, read_only=True)
    try:
        return split_lead(store, con, lead_id, cores, user, reason)
    finally:
        con.close()
