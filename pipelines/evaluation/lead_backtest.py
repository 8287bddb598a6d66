"""Lead-level backtest against a generated county's truth: is each scheme one lead, and each lead one scheme?

Reads the case store's leads (not merged ones) and their accounts. A lead holds a scheme when one of its own
(non-participant) accounts is the scheme's hub or a collector; a scheme's hub is a lead's core when it is the
lead's core account. Participants shared between leads are participant accounts listed on two or more leads.
The queue's top (TOP_N, in the order `leads list` shows) is judged too, and the lawful look-alikes by kind:
which are a lead's own account, the core of a lead, marked as cleared or registered, in the top. Schemes the filed
reports do not show, and schemes whose reported money is below the amount every lead needs to open
(`scheme_visibility`), are listed with the reason and not counted as found or missed.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import duckdb
import pyarrow
import sqlalchemy as sa

from pipelines.cases.store import CaseStore, lead_accounts, leads
from pipelines.evaluation.truth import PARTICIPANT_ROLES, Truth
from pipelines.vocabulary import SCHEME_VISIBILITY

TOP_N = 20
CLEARED_MARKS = ("lookalike_cleared", "registered")


VISIBILITY_SQL = """
WITH participants AS (SELECT account_no, scheme_id FROM truth_accounts WHERE participant),
own AS (SELECT account_no, scheme_id FROM truth_accounts WHERE NOT participant),
sides AS (  -- each payment from the side of each of its two accounts: paid in, or paid out to the other
    SELECT payee_account AS account_no, payer_account AS other, true AS paid_in, amount_cny FROM payments
    UNION ALL
    SELECT payer_account, payee_account, false, amount_cny FROM payments
),
transfers AS (
    SELECT own.scheme_id,
           count(DISTINCT sides.other) FILTER (WHERE sides.paid_in) AS paid_in,
           coalesce(sum(sides.amount_cny) FILTER (WHERE sides.paid_in), 0) AS paid_in_cny,
           count(DISTINCT sides.other) FILTER (WHERE NOT sides.paid_in) AS paid_to,
           coalesce(sum(sides.amount_cny) FILTER (WHERE NOT sides.paid_in), 0) AS paid_to_cny
    FROM sides
    JOIN own ON own.account_no = sides.account_no
    JOIN participants ON participants.account_no = sides.other AND participants.scheme_id = own.scheme_id
    GROUP BY own.scheme_id
),
cash AS (  -- cash paid in at the counter by someone other than the holder (an investor is recorded as the agent)
    SELECT own.scheme_id, count(*) AS cash_in, sum(p.amount_cny) AS cash_in_cny
    FROM payments p
    JOIN txn line ON line.txn_id = p.in_txn_id
    JOIN own ON own.account_no = p.payee_account
    WHERE p.is_cash AND line.agent_id_no IS NOT NULL AND line.agent_id_no <> coalesce(line.customer_id_no, '')
    GROUP BY own.scheme_id
),
own_in AS (  -- every reported payment into one of its own accounts: from anyone, cash, between its own accounts
    SELECT own.scheme_id, sum(p.amount_cny) AS own_in_cny
    FROM payments p JOIN own ON own.account_no = p.payee_account
    GROUP BY own.scheme_id
)
SELECT scheme_id, coalesce(paid_in, 0), coalesce(paid_in_cny, 0), coalesce(paid_to, 0), coalesce(paid_to_cny, 0),
       coalesce(cash_in, 0), coalesce(cash_in_cny, 0), coalesce(own_in_cny, 0)
FROM transfers FULL JOIN cash USING (scheme_id) FULL JOIN own_in USING (scheme_id)
"""


def scheme_visibility(
    con: duckdb.DuckDBPyConnection, labels: Truth, opening_amount_cny: float | None = None
) -> dict[str, dict]:
    """What the filed reports show of each scheme's money with its participants: scheme id → its participants
    (in the truth), how many of them a reported payment shows paying into its accounts and for how much, how many
    a reported payment from its accounts reached and how much, all money reported paid into its own accounts,
    whether the scheme is visible at all, and `reason`: why the lead backtest does not count it, else None.

    Visible: at least one reported payment (a one-sided line is enough) between one of its participants and any
    of its own accounts (hub, collectors, promoters, controllers, cash-out), in either direction, or one cash
    deposit into its accounts by someone other than the holder (the reports name the depositor as the agent, not
    by an account; most depositors are investors). The bar is as low as it can be, so no scheme a detector could
    have seen is excused: a scheme the reports show only paying out to its participants (T3) counts, and so does
    one participant's single payment. Only a scheme of which no report holds any money between it and its
    participants is not visible — no detector working on the reports can find a fundraising whose participants
    do not appear in them (reason `no_reported_money`).

    Below the opening amount (reason `below_opening_amount`, only with `opening_amount_cny`, rules/leads.yaml
    opening.min_amount_cny): a visible scheme whose reported payments into its own accounts — every one, from
    anyone, cash deposits and money moved between its own accounts included, whole warehouse — total less than
    that. Every way a ring opens a lead (an opening rule's hit and another hit, many rules, public rules; the
    collector network and structuring hits included) needs the ring's money paid into its hub, collectors and
    other own accounts from outside them to reach that amount, and for a ring made of the scheme's accounts that
    money is part of this sum. So no lead can open on what the reports hold of such a scheme. One can only when
    its ring, or a ring split out of the same group, holds accounts that are not the scheme's, or when an account
    shared by two rings of one group is counted in each; the scheme is then found, and listed as found all the
    same, so the class never hides a lead that opened.
    """
    rows = [(a.account_no, a.scheme_id, a.role in PARTICIPANT_ROLES) for a in labels.accounts if a.scheme_id]
    truth_accounts = pyarrow.table(
        {
            "account_no": [account for account, _, _ in rows],
            "scheme_id": [scheme for _, scheme, _ in rows],
            "participant": [participant for _, _, participant in rows],
        }
    )
    con.register("truth_accounts", truth_accounts)
    try:
        reported = {row[0]: row[1:] for row in con.execute(VISIBILITY_SQL).fetchall()}
    finally:
        con.unregister("truth_accounts")
    participants = Counter(scheme for _, scheme, participant in rows if participant)
    visibility = {}
    for scheme in sorted({scheme for _, scheme, _ in rows}):
        paid_in, paid_in_cny, paid_to, paid_to_cny, cash_in, cash_in_cny, own_in_cny = reported.get(scheme, (0,) * 7)
        visible = bool(paid_in or paid_to or cash_in)
        below = opening_amount_cny is not None and float(own_in_cny) < opening_amount_cny
        visibility[scheme] = {
            "participants": participants[scheme],
            "paid_in": int(paid_in),
            "paid_in_cny": float(paid_in_cny),
            "paid_to": int(paid_to),
            "paid_to_cny": float(paid_to_cny),
            "cash_in": int(cash_in),
            "cash_in_cny": float(cash_in_cny),
            "own_in_cny": float(own_in_cny),
            "opening_amount_cny": opening_amount_cny,
            "visible": visible,
            "reason": None if visible and not below else "no_reported_money" if not visible else "below_opening_amount",
        }
    return visibility


def lead_results(store: CaseStore, labels: Truth, visibility: dict[str, dict] | None = None) -> dict:
    """Figures of issue 14 for one county, from the generator's truth. With `visibility` (scheme_visibility's),
    schemes found, hubs that are one lead's core and leads per scheme count only the schemes it gives no reason
    not to count (visible, and at the opening amount when it was given one); the others are listed with the
    reason. Without it every scheme counts."""
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

    def reason(scheme: str) -> str | None:
        return None if visibility is None or scheme not in visibility else visibility[scheme]["reason"]

    counted = {scheme for scheme in leads_of_scheme if reason(scheme) is None}
    not_counted = [
        {"scheme_id": scheme, "kind": labels.scheme_kind.get(scheme, ""), **(visibility or {})[scheme],
         "found": bool(leads_of_scheme[scheme])}
        for scheme in sorted(set(leads_of_scheme) - counted)
    ]  # fmt: skip
    missed = [
        {"scheme_id": scheme, "kind": labels.scheme_kind.get(scheme, ""), **(visibility or {}).get(scheme, {})}
        for scheme in sorted(counted)
        if not leads_of_scheme[scheme]
    ]
    per_lead = Counter(len(found) for found in schemes_of_lead.values())
    per_scheme = Counter(len(leads_of_scheme[scheme]) for scheme in counted)
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
        "schemes_visible": sum(1 for scheme in leads_of_scheme if reason(scheme) != "no_reported_money"),
        "schemes_counted": len(counted),
        "schemes_not_visible": [entry for entry in not_counted if entry["reason"] == "no_reported_money"],
        "schemes_below_opening_amount": [entry for entry in not_counted if entry["reason"] == "below_opening_amount"],
        "schemes_found": sum(1 for scheme in counted if leads_of_scheme[scheme]),
        "schemes_missed": missed,
        "hub_is_core_of_one_lead": sum(1 for scheme, n in hub_core_count.items() if n == 1 and scheme in counted),
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

    def shown(entry: dict) -> str:
        if "participants" not in entry:
            return entry["scheme_id"]
        return (
            f"{entry['scheme_id']}（参与人 participants {entry['participants']}：报告中转入 paid in "
            f"{entry['paid_in']} 人 ¥{entry['paid_in_cny']:,.0f}，收到付款 paid out to {entry['paid_to']} 人 "
            f"¥{entry['paid_to_cny']:,.0f}，他人现金存入 cash paid in by others {entry['cash_in']} 笔 "
            f"¥{entry['cash_in_cny']:,.0f}，其账户收到 paid into its own accounts ¥{entry['own_in_cny']:,.0f}）"
        )

    hidden = found.get("schemes_not_visible", [])
    thin = found.get("schemes_below_opening_amount", [])
    counted = found.get("schemes_counted", found["schemes_visible"])
    return "\n".join(
        [
            "线索级回测 / lead-level backtest",
            f"线索 leads {found['leads']}；集资模型 schemes {found['schemes']}，"
            f"报告中可见 visible in the filed reports {found['schemes_visible']}，"
            f"计入 counted {counted}；"
            f"成为线索的模型 schemes found as leads {found['schemes_found']} / {counted}；"
            f"枢纽恰为一条线索的核心 hub is the core of exactly one lead {found['hub_is_core_of_one_lead']}",
            "未成为线索的计入模型 counted schemes not found: "
            + ("；".join(shown(entry) for entry in found["schemes_missed"]) or "-"),
        ]
        + [
            f"不计入 not counted {entry['scheme_id']} {entry['kind']}（参与人 participants {entry['participants']}）："
            f"{SCHEME_VISIBILITY[entry['reason']]} / no reported payment between any of its participants and its"
            f" accounts, no cash paid in by others{'；仍成为线索 found all the same' if entry['found'] else ''}"
            for entry in hidden
        ]
        + [
            f"不计入 not counted {entry['scheme_id']} {entry['kind']}（参与人 participants {entry['participants']}）："
            f"{SCHEME_VISIBILITY[entry['reason']]} ¥{entry['own_in_cny']:,.0f} < ¥{entry['opening_amount_cny']:,.0f}"
            f" / every reported payment into its own accounts totals ¥{entry['own_in_cny']:,.0f}, under the opening"
            f" amount ¥{entry['opening_amount_cny']:,.0f} (rules/leads.yaml opening.min_amount_cny) every lead needs"
            f"{'；仍成为线索 found all the same' if entry['found'] else ''}"
            for entry in thin
        ]
        + [
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
