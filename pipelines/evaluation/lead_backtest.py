"""Lead-level backtest against a generated county's truth: is each scheme one lead, and each lead one scheme?

Reads the case store's leads (not merged ones) and their accounts. A lead holds a scheme when one of its own
(non-participant) accounts is the scheme's hub or a collector; a scheme's hub is a lead's core when it is the
lead's core account. Participants shared between leads are participant accounts listed on two or more leads.
The queue's top (TOP_N, in the order `leads list` shows) is judged too, and the lawful look-alikes by kind:
which are a lead's own account, the core of a lead, marked as cleared or registered, in the top.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import sqlalchemy as sa

from pipelines.cases.store import CaseStore, lead_accounts, leads
from pipelines.evaluation.truth import Truth

TOP_N = 20
CLEARED_MARKS = ("lookalike_cleared", "registered")


def lead_results(store: CaseStore, labels: Truth) -> dict:
    """Figures of issue 14 for one county, from the generator's truth."""
    with store.read() as conn:
        lead_rows = conn.execute(
            sa.select(leads.c.lead_id, leads.c.hub_account).where(leads.c.status != "MERGED")
        ).all()
        marks = dict(conn.execute(sa.select(leads.c.lead_id, leads.c.priority)).all())
        live = {lead_id for lead_id, _ in lead_rows}
        own: dict[str, set[str]] = defaultdict(set)
        participants: dict[str, set[str]] = defaultdict(set)
        for lead_id, account_no, role in conn.execute(
            sa.select(lead_accounts.c.lead_id, lead_accounts.c.account_no, lead_accounts.c.role)
        ).all():
            if lead_id not in live:
                continue
            (participants if role == "investor" else own)[account_no].add(lead_id)
    core_of = {lead_id: hub for lead_id, hub in lead_rows}
    scheme_of: dict[str, str] = {account: scheme for scheme, core in labels.scheme_core.items() for account in core}
    schemes_of_lead: dict[str, set[str]] = {lead_id: set() for lead_id in live}
    leads_of_scheme: dict[str, set[str]] = {scheme: set() for scheme in labels.scheme_core}
    for account, lead_ids in own.items():
        scheme = scheme_of.get(account)
        if scheme is None:
            continue
        for lead_id in lead_ids:
            schemes_of_lead[lead_id].add(scheme)
            leads_of_scheme[scheme].add(lead_id)
    hub_core_count = {
        scheme: sum(1 for core in core_of.values() if core == hub) for scheme, hub in labels.scheme_hub.items()
    }
    per_lead = Counter(len(found) for found in schemes_of_lead.values())
    per_scheme = Counter(len(found) for found in leads_of_scheme.values())
    shared = {account for account, lead_ids in participants.items() if len(lead_ids) >= 2}
    queue = [lead["lead_id"] for lead in store.list_leads() if lead["status"] != "MERGED"]
    top = set(queue[:TOP_N])
    lookalikes: dict[str, dict] = {}
    for account, kind in sorted(labels.lookalike_kind.items()):
        entry = lookalikes.setdefault(
            kind, {"accounts": 0, "on_a_lead": 0, "lead_core": 0, "cleared": 0, f"top_{TOP_N}": 0}
        )
        on = own.get(account, set())
        cores = {lead_id for lead_id, hub in core_of.items() if hub == account}
        entry["accounts"] += 1
        entry["on_a_lead"] += bool(on)
        entry["lead_core"] += bool(cores)
        entry["cleared"] += any(set(marks.get(lead_id) or ()) & set(CLEARED_MARKS) for lead_id in cores)
        entry[f"top_{TOP_N}"] += bool(cores & top)
    return {
        "leads": len(live),
        "schemes": len(labels.scheme_core),
        "schemes_found": sum(1 for found in leads_of_scheme.values() if found),
        "hub_is_core_of_one_lead": sum(1 for n in hub_core_count.values() if n == 1),
        "hub_is_core_of_several": sorted(scheme for scheme, n in hub_core_count.items() if n > 1),
        "leads_per_scheme": dict(sorted(per_scheme.items())),
        "schemes_per_lead": dict(sorted(per_lead.items())),
        "max_schemes_per_lead": max(per_lead, default=0),
        "leads_holding_no_scheme": per_lead.get(0, 0),
        f"top_{TOP_N}_holding_no_scheme": sum(1 for lead_id in queue[:TOP_N] if not schemes_of_lead.get(lead_id)),
        "no_scheme_above_a_scheme": _no_scheme_above_a_scheme(queue, schemes_of_lead),
        "top_schemes_ranked": [sorted(schemes_of_lead.get(lead_id) or ["-"]) for lead_id in queue[:TOP_N]],
        "lookalikes": lookalikes,
        "participants_shared": len(shared),
        "participants": len(participants),
    }


def _no_scheme_above_a_scheme(queue: list[str], schemes_of_lead: dict[str, set[str]]) -> int:
    """Leads holding no scheme that the queue shows before its last lead holding one."""
    last = max((rank for rank, lead_id in enumerate(queue) if schemes_of_lead.get(lead_id)), default=-1)
    return sum(1 for lead_id in queue[:last] if not schemes_of_lead.get(lead_id))


def format_lead_results(found: dict) -> str:
    def spread(counts: dict) -> str:
        return ", ".join(f"{n}:{count}" for n, count in counts.items()) or "-"

    return "\n".join(
        [
            "线索级回测 / lead-level backtest",
            f"线索 leads {found['leads']}；集资模型 schemes {found['schemes']}；"
            f"成为线索的模型 schemes found as leads {found['schemes_found']}；"
            f"枢纽恰为一条线索的核心 hub is the core of exactly one lead {found['hub_is_core_of_one_lead']}",
            f"每个模型的线索数 leads per scheme (n:schemes) {spread(found['leads_per_scheme'])}",
            f"每条线索的模型数 schemes per lead (n:leads) {spread(found['schemes_per_lead'])}；"
            f"最多 max {found['max_schemes_per_lead']}",
            f"不含模型的线索 leads holding no scheme {found['leads_holding_no_scheme']}；"
            f"多条线索共有的参与人 participants shared between leads {found['participants_shared']}"
            f" / {found['participants']}",
            f"前 {TOP_N} 条线索中不含模型的 top-{TOP_N} leads holding no scheme {found[f'top_{TOP_N}_holding_no_scheme']}"
            f"；排在某个模型之前的 ranked above a scheme's lead {found['no_scheme_above_a_scheme']}",
        ]
        + [
            f"类似正常经营 {kind}: 账户 {entry['accounts']}，在线索中 on a lead {entry['on_a_lead']}，"
            f"为线索核心 lead core {entry['lead_core']}，已降序 cleared {entry['cleared']}，"
            f"前 {TOP_N} top {entry[f'top_{TOP_N}']}"
            for kind, entry in found["lookalikes"].items()
        ]
    )
