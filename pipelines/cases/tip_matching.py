"""Matching tips to the money: the subjects a tip names, looked up in the warehouse (read-only) and in the leads.

Numbers match exactly (accounts, ID numbers, phones); names match after normalising (full-width forms, spaces,
company suffixes such as 有限公司 and 合作社) and then by similarity (rapidfuzz). A tip matching an open lead is
attached to it and marks it 群众举报; one matching only accounts may become a manual lead on those accounts.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import duckdb
import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.engine import Connection

from pipelines.cases import publish
from pipelines.cases.lifecycle import OPEN_STATUSES
from pipelines.cases.store import CaseStore, lead_accounts, lead_payments, leads, tip_matches, tips
from pipelines.cases.tips import OPEN_TIP_STATUSES, WORKERS, _acting, _lock_tip, _need, phone_digits, plain_text
from pipelines.errors import LifecycleError
from pipelines.masking import mask_account
from pipelines.vocabulary import ACCOUNT_ROLES
from pipelines.warehouse.db import listed

log = logging.getLogger("fundflow.tips")

# Endings that say what kind of body a name is, not which one: 康乐养老服务专业合作社 and 康乐养老合作社 are one.
NAME_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "农民专业合作社",
    "专业合作社",
    "合作社",
    "股份公司",
    "集团",
    "公司",
    "服务中心",
    "服务部",
    "服务",
    "中心",
)
NAME_NOISE = re.compile(r"[\s()（）\[\]【】·.,，。、\"'“”‘’-]+")
FUZZY_CUTOFF = 85  # rapidfuzz ratio (0–100) of two normalised names
STRENGTH = {"account": 1.0, "id_no": 1.0, "phone": 0.9, "company_same": 0.9, "person_same": 0.5}
INVESTOR_WEIGHT = 0.5  # a participant's account named in a tip says less about the scheme than its core's
PERSON_NAME_MAX_ACCOUNTS = 5  # a common name on more accounts than this is not a match
TIP_MARK = "tip_reported"
LEAD_STATUSES = OPEN_STATUSES + ("ON_HOLD",)
MANUAL_EVIDENCE_LIMIT = 2000
MANUAL_INVESTORS_LIMIT = 500
ELDERLY_YEARS = 60
# tips.phone_digits in SQL: digits only, a +86 country prefix dropped
PHONE_DIGITS_SQL = (
    "(CASE WHEN length(regexp_replace({column}, '[^0-9]', '', 'g')) = 13 "
    "AND starts_with(regexp_replace({column}, '[^0-9]', '', 'g'), '86') "
    "THEN substr(regexp_replace({column}, '[^0-9]', '', 'g'), 3) "
    "ELSE regexp_replace({column}, '[^0-9]', '', 'g') END)"
)


def normalise_name(name: str | None) -> str:
    """`康乐 养老服务专业合作社` → `康乐养老`; full-width forms folded, punctuation and suffixes dropped."""
    text = NAME_NOISE.sub("", plain_text(name))
    stripped = True
    while stripped:
        stripped = False
        for suffix in NAME_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix) + 1:
                text = text[: -len(suffix)]
                stripped = True
                break
    return text


@dataclass(frozen=True)
class Match:
    kind: str  # account id_no phone name
    subject: str  # what the tip said
    account_no: str | None
    matched_name: str | None
    lead_id: str | None
    strength: float
    how: str

    @property
    def key(self) -> tuple:
        return (self.kind, self.subject, self.account_no, self.lead_id)


# --- the warehouse ------------------------------------------------------------------------------------------------


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, values: list[str] | None = None) -> list[tuple]:
    """The rows of `sql`, which reads `values` as the relation `tip_values` (column `value`)."""
    if values is None:
        return con.execute(sql).fetchall()
    with listed(con, "tip_values", values):
        return con.execute(sql).fetchall()


def warehouse_matches(con: duckdb.DuckDBPyConnection, tip: dict) -> list[Match]:
    """Accounts in the warehouse that the tip's numbers and names point to."""
    found: list[Match] = []
    accounts = list(tip["accounts"])
    if accounts:
        rows = _fetch(
            con,
            "SELECT a.account_no, any_value(p.holder_name) FROM (SELECT value AS account_no FROM tip_values) a "
            "LEFT JOIN parties p USING (account_no) "
            "WHERE p.account_no IS NOT NULL OR EXISTS (SELECT 1 FROM payments x "
            "    WHERE x.payer_account = a.account_no OR x.payee_account = a.account_no) "
            "GROUP BY a.account_no ORDER BY a.account_no",
            accounts,
        )
        found += [
            Match("account", no, no, name, None, STRENGTH["account"], "账号一致 / same account") for no, name in rows
        ]
    id_nos = list(tip["id_nos"])
    if id_nos:
        rows = _fetch(
            con,
            "SELECT i.id_no, p.account_no, p.holder_name, p.holder_id_no = i.id_no FROM "
            "(SELECT value AS id_no FROM tip_values) i JOIN parties p "
            "ON upper(p.holder_id_no) = i.id_no OR upper(p.legal_rep_id_no) = i.id_no ORDER BY p.account_no",
            id_nos,
        )
        for id_no, account_no, name, holder in rows:
            how = (
                "证件号码一致（开户人） / same holder ID"
                if holder
                else "证件号码一致（法定代表人） / same legal rep ID"
            )
            found.append(Match("id_no", id_no, account_no, name, None, STRENGTH["id_no"], how))
    phones = [phone_digits(p) for p in tip["phones"]]
    phones = [p for p in phones if len(p) >= 7]
    if phones:
        rows = _fetch(
            con,
            "SELECT t.phone, p.account_no, p.holder_name FROM (SELECT value AS phone FROM tip_values) t "
            f"JOIN parties p ON {PHONE_DIGITS_SQL.format(column='p.holder_phone')} = t.phone ORDER BY p.account_no",
            phones,
        )
        found += [
            Match("phone", phone, no, name, None, STRENGTH["phone"], "预留电话一致 / same phone on file")
            for phone, no, name in rows
        ]
    if tip["companies"]:
        names = _fetch(
            con,
            "SELECT holder_name, list(account_no ORDER BY account_no) FROM parties "
            "WHERE holder_name IS NOT NULL AND coalesce(holder_kind, 'ORG') = 'ORG' GROUP BY holder_name",
        )
        by_name = {name: accounts_of for name, accounts_of in names}
        for company, name, strength, how in _similar_names(tip["companies"], list(by_name)):
            found += [Match("name", company, no, name, None, strength, how) for no in by_name[name]]
    people = [NAME_NOISE.sub("", plain_text(p)) for p in tip["people"]]
    if people:
        rows = _fetch(
            con,
            "SELECT holder_name, list(account_no ORDER BY account_no) FROM parties "
            "WHERE holder_kind = 'PERSON' AND holder_name IN (SELECT value FROM tip_values) GROUP BY holder_name",
            people,
        )
        for name, accounts_of in rows:
            if len(accounts_of) > PERSON_NAME_MAX_ACCOUNTS:
                continue
            how = "姓名相同（须核实是否同一人） / same person name, to verify"
            found += [Match("name", name, no, name, None, STRENGTH["person_same"], how) for no in accounts_of]
    return found


def _similar_names(wanted: list[str], known: list[str]) -> list[tuple[str, str, float, str]]:
    """(tip's name, known name, strength, how) for each known name close enough to a wanted one."""
    normalised: dict[str, list[str]] = {}
    for name in known:
        normalised.setdefault(normalise_name(name), []).append(name)
    choices = [key for key in normalised if key]
    found = []
    for name in wanted:
        key = normalise_name(name)
        if not key:
            continue
        for choice, score, _ in process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=5):
            same = choice == key
            strength = STRENGTH["company_same"] if same else round(score / 100 * 0.85, 3)
            for original in normalised[choice]:
                how = (
                    f"名称归一后相同（{key}） / same name once suffixes are dropped"
                    if same
                    else f"名称相近 {score:.0f}%（{key} ≈ {choice}） / similar name"
                )
                found.append((name, original, strength, how))
    return found


# --- the leads ----------------------------------------------------------------------------------------------------


def _resolve(conn: Connection, lead_id: str) -> dict:
    lead = dict(conn.execute(sa.select(leads).where(leads.c.lead_id == lead_id)).mappings().one())
    seen = {lead_id}
    while lead["status"] == "MERGED" and lead["merged_into"] and lead["merged_into"] not in seen:
        seen.add(lead["merged_into"])
        lead = dict(conn.execute(sa.select(leads).where(leads.c.lead_id == lead["merged_into"])).mappings().one())
    return lead


def lead_matches(conn: Connection, tip: dict, account_hits: list[Match]) -> list[Match]:
    """Open leads that hold an account the tip points to, or whose subject or account names it names."""
    found: list[Match] = []
    numbers = {m.account_no: m for m in account_hits if m.account_no}
    numbers.update({no: Match("account", no, no, None, None, 1.0, "") for no in tip["accounts"] if no not in numbers})
    if numbers:
        rows = conn.execute(
            sa.select(lead_accounts.c.lead_id, lead_accounts.c.account_no, lead_accounts.c.role).where(
                lead_accounts.c.account_no.in_(sorted(numbers))
            )
        ).all()
        for lead_id, account_no, role in rows:
            lead = _resolve(conn, lead_id)
            if lead["status"] not in LEAD_STATUSES:
                continue
            hit = numbers[account_no]
            weight = INVESTOR_WEIGHT if role == "investor" else 1.0
            how = f"{hit.how or '账号一致 / same account'}；线索账户（{ACCOUNT_ROLES.get(role, role)}）"
            found.append(
                Match(hit.kind, hit.subject, account_no, hit.matched_name, lead["lead_id"], hit.strength * weight, how)
            )
    id_nos = set(tip["id_nos"])
    wanted_names = list(tip["companies"])
    if id_nos or wanted_names:
        open_leads = [
            dict(r) for r in conn.execute(sa.select(leads).where(leads.c.status.in_(LEAD_STATUSES))).mappings()
        ]
        for lead in open_leads:
            if lead["subject_id_no"] and lead["subject_id_no"].upper() in id_nos:
                found.append(
                    Match(
                        "id_no",
                        lead["subject_id_no"].upper(),
                        lead["hub_account"],
                        lead["subject_name"],
                        lead["lead_id"],
                        1.0,
                        "证件号码与线索主体一致 / same ID as the lead's subject",
                    )
                )
        if wanted_names:
            names: dict[str, set[str]] = {}
            for lead in open_leads:
                if lead["subject_name"]:
                    names.setdefault(lead["subject_name"], set()).add(lead["lead_id"])
            name_rows = conn.execute(
                sa.select(lead_accounts.c.account_name, lead_accounts.c.lead_id)
                .select_from(lead_accounts.join(leads, leads.c.lead_id == lead_accounts.c.lead_id))
                .where(leads.c.status.in_(LEAD_STATUSES))
                .where(lead_accounts.c.role != "investor")
                .where(lead_accounts.c.account_name.is_not(None))
            ).all()
            for name, lead_id in name_rows:
                names.setdefault(name, set()).add(lead_id)
            for company, name, strength, how in _similar_names(wanted_names, list(names)):
                for lead_id in sorted(names[name]):
                    found.append(Match("name", company, None, name, lead_id, strength, how + "；线索主体/账户名"))
    return found


# --- storing matches ----------------------------------------------------------------------------------------------


def _best(matches: list[Match]) -> list[Match]:
    """One match per key, the strongest."""
    best: dict[tuple, Match] = {}
    for match in matches:
        if match.key not in best or match.strength > best[match.key].strength:
            best[match.key] = match
    return sorted(best.values(), key=lambda m: (m.lead_id is None, -m.strength, m.kind, m.subject, m.account_no or ""))


def _store_matches(store: CaseStore, conn: Connection, tip: dict, found: list[Match], user: str) -> list[Match]:
    """Insert the matches not stored yet, attach the tip to newly matched leads, set its match state."""
    known = {
        (r.kind, r.subject, r.account_no, r.lead_id)
        for r in conn.execute(sa.select(tip_matches).where(tip_matches.c.tip_id == tip["tip_id"]))
    }
    new = [match for match in _best(found) if match.key not in known]
    now = store.now()
    if new:
        conn.execute(
            tip_matches.insert(),
            [
                {
                    "tip_id": tip["tip_id"],
                    "kind": m.kind,
                    "subject": m.subject,
                    "account_no": m.account_no,
                    "matched_name": m.matched_name,
                    "lead_id": m.lead_id,
                    "strength": m.strength,
                    "how": m.how,
                    "found_at": now,
                    "found_by": user,
                }
                for m in new
            ],
        )
    known_leads = {key[3] for key in known if key[3]}
    for lead_id in sorted({m.lead_id for m in new if m.lead_id} - known_leads):
        _attach(store, conn, tip, lead_id, [m for m in new if m.lead_id == lead_id], user)
    all_keys = known | {m.key for m in new}
    state = "LEAD" if any(k[3] for k in all_keys) else "ACCOUNTS" if any(k[2] for k in all_keys) else "NONE"
    conn.execute(tips.update().where(tips.c.tip_id == tip["tip_id"]).values(match_state=state, matched_at=now))
    if new:
        detail = {
            "new": len(new),
            "leads": sorted({m.lead_id for m in new if m.lead_id}),
            "accounts": sorted({mask_account(m.account_no) for m in new if m.account_no}),
        }
        note = f"新匹配 {len(new)} 项 / {len(new)} new match(es)"
        store.append_tip_event(conn, tip["tip_id"], user, "matched", note, tip["status"], tip["status"], detail)
    return new


def _attach(store: CaseStore, conn: Connection, tip: dict, lead_id: str, why: list[Match], user: str) -> None:
    """The tip joins the lead: the lead is marked 群众举报 (a priority mark) and its history says so."""
    lead = store.lock_lead(conn, lead_id)
    strongest = max(why, key=lambda m: m.strength)
    values: dict = {"updated_at": store.now()}
    if TIP_MARK not in lead["priority"]:
        values["priority"] = [*lead["priority"], TIP_MARK]
    conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(**values))
    note = f"群众举报 {tip['tip_id']} 关联本线索（{strongest.how}，匹配强度 {strongest.strength:.2f}） / tip attached"
    detail = {"tip_id": tip["tip_id"], "strength": strongest.strength, "kinds": sorted({m.kind for m in why})}
    store.append_event(conn, lead_id, user, "tip_attached", note, lead["status"], lead["status"], detail)
    store.append_tip_event(
        conn, tip["tip_id"], user, "attached", note, tip["status"], tip["status"], {"lead_id": lead_id}
    )


def match_tip(store: CaseStore, warehouse_con: duckdb.DuckDBPyConnection | None, tip_id: str, user: str) -> list[Match]:
    """Look one tip up (warehouse when given, and the leads) and store what is new; returns the new matches."""
    with store.read() as conn:
        tip = dict(conn.execute(sa.select(tips).where(tips.c.tip_id == tip_id)).mappings().one())
    account_hits = warehouse_matches(warehouse_con, tip) if warehouse_con is not None else []
    with store.write() as conn:
        tip = _lock_tip(conn, tip_id)
        found = account_hits + lead_matches(conn, tip, account_hits)
        return _store_matches(store, conn, tip, found, user)


def rematch_open_tips(
    store: CaseStore, warehouse_con: duckdb.DuckDBPyConnection | None, user: str = publish.SYSTEM_USER
) -> dict[str, list[Match]]:
    """Match every tip not yet answered again (the nightly run does this after new data); tip → new matches."""
    with store.read() as conn:
        open_ids = list(
            conn.execute(
                sa.select(tips.c.tip_id).where(tips.c.status.in_(OPEN_TIP_STATUSES)).order_by(tips.c.tip_id)
            ).scalars()
        )
    found = {}
    for tip_id in open_ids:
        new = match_tip(store, warehouse_con, tip_id, user)
        if new:
            found[tip_id] = new
    log.info("tips re-matched: %d open, %d with new matches", len(open_ids), len(found))
    return found


# --- a manual lead from a tip --------------------------------------------------------------------------------------

MANUAL_FLOWS_SQL = """
CREATE OR REPLACE TEMP TABLE manual_accounts AS SELECT DISTINCT value AS account_no FROM manual_wanted;
CREATE OR REPLACE TEMP TABLE manual_flows AS
SELECT 'in' AS side, p.payee_account AS account_no, p.* FROM payments p
WHERE p.payee_account IN (SELECT account_no FROM manual_accounts)
UNION ALL
SELECT 'out', p.payer_account, p.* FROM payments p
WHERE p.payer_account IN (SELECT account_no FROM manual_accounts)
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql, params or {})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def manual_ring(con: duckdb.DuckDBPyConnection, accounts: list[str], key: str) -> publish.RingFacts:
    """The money around the given accounts, shaped as publishing shapes a ring, so a manual lead gets the same
    evidence, narrative and graph as a generated one."""
    with listed(con, "manual_wanted", accounts):
        con.execute(MANUAL_FLOWS_SQL)
    totals = {
        r["account_no"]: r
        for r in _rows(
            con,
            "SELECT account_no, coalesce(sum(amount_cny) FILTER (WHERE side = 'in'), 0) AS total_in, "
            "coalesce(sum(amount_cny) FILTER (WHERE side = 'out'), 0) AS total_out, "
            "min(txn_time) AS first, max(txn_time) AS last FROM manual_flows GROUP BY account_no",
        )
    }
    if not totals:
        raise LifecycleError("这些账户在数据仓库中没有交易 / the accounts have no payments in the warehouse")
    hub = max(totals, key=lambda no: (totals[no]["total_in"], no))
    window_start = min(r["first"] for r in totals.values())
    window_end = max(r["last"] for r in totals.values())
    elderly_born = window_end - timedelta(days=365 * ELDERLY_YEARS + 15)
    participants = """FROM manual_flows WHERE side = 'in' AND payer_kind = 'PERSON'
        AND (payer_account IS NULL OR payer_account NOT IN (SELECT account_no FROM manual_accounts))"""
    people = _rows(
        con,
        "SELECT count(DISTINCT coalesce(payer_id_no, payer_account, payer_name)) AS n, "
        "coalesce(sum(amount_cny), 0) AS amount, count(DISTINCT coalesce(payer_id_no, payer_account, payer_name)) "
        f"FILTER (WHERE payer_birth <= $born) AS elderly {participants}",
        {"born": elderly_born},
    )[0]
    provinces = _rows(
        con,
        "SELECT substr(payer_region, 1, 2) AS province, count(DISTINCT coalesce(payer_id_no, payer_account)) AS n, "
        f"sum(amount_cny) AS amount {participants} AND payer_region IS NOT NULL GROUP BY province ORDER BY amount DESC",
    )
    investors = [
        r["payer_account"]
        for r in _rows(
            con,
            f"SELECT payer_account, sum(amount_cny) AS paid {participants} AND payer_account IS NOT NULL "
            f"GROUP BY payer_account ORDER BY paid DESC LIMIT {MANUAL_INVESTORS_LIMIT}",
        )
    ]
    ring_accounts: list[dict[str, object]] = [
        {"account_no": no, "role": "hub" if no == hub else "other"} for no in accounts if no in totals
    ]
    ring_accounts += [{"account_no": no, "role": "investor"} for no in investors if no not in totals]
    with listed(con, "manual_listed", [str(a["account_no"]) for a in ring_accounts]):
        holders = {
            r["account_no"]: r
            for r in _rows(
                con,
                "SELECT account_no, institution_code, holder_name, holder_id_no, holder_kind, holder_region "
                "FROM parties WHERE account_no IN (SELECT value FROM manual_listed)",
            )
        }
    paid_by_investor = {
        r["account_no"]: r
        for r in _rows(
            con,
            "SELECT payer_account AS account_no, sum(amount_cny) FILTER (WHERE side = 'in') AS total_out, "
            "coalesce(sum(amount_cny) FILTER (WHERE side = 'out'), 0) AS total_in FROM ("
            "  SELECT side, payer_account, amount_cny FROM manual_flows WHERE side = 'in'"
            "  UNION ALL SELECT side, payee_account, amount_cny FROM manual_flows WHERE side = 'out') "
            "GROUP BY payer_account",
        )
    }
    for account in ring_accounts:
        holder = holders.get(account["account_no"], {})
        figures = totals.get(account["account_no"]) or paid_by_investor.get(account["account_no"]) or {}
        account.update(
            account_name=holder.get("holder_name"),
            institution=holder.get("institution_code"),
            holder_id_no=holder.get("holder_id_no"),
            holder_kind=holder.get("holder_kind"),
            holder_region=holder.get("holder_region"),
            total_in=Decimal(figures.get("total_in") or 0),
            total_out=Decimal(figures.get("total_out") or 0),
        )
    columns = ", ".join(publish.PAYMENT_COLUMNS)
    payments = _rows(
        con,
        f"SELECT DISTINCT ON (payment_id) {columns} FROM manual_flows "
        f"ORDER BY payment_id, txn_time LIMIT {MANUAL_EVIDENCE_LIMIT}",
    )
    payments.sort(key=lambda p: (p["txn_time"], p["payment_id"]))
    hub_payees = _rows(
        con,
        "SELECT payee_account, any_value(payee_name) AS payee_name, sum(amount_cny) AS amount FROM manual_flows "
        "WHERE side = 'out' AND account_no = $hub AND NOT is_cash AND payee_account IS NOT NULL "
        "GROUP BY payee_account ORDER BY amount DESC",
        {"hub": hub},
    )
    cash_out = _rows(
        con,
        "SELECT account_no, sum(amount_cny) AS amount FROM manual_flows WHERE side = 'out' AND is_cash "
        "GROUP BY account_no ORDER BY amount DESC",
    )
    texts = [
        r["text"]
        for r in _rows(
            con,
            "SELECT text, count(*) AS n FROM (SELECT memo AS text FROM manual_flows WHERE memo IS NOT NULL "
            "UNION ALL SELECT purpose FROM manual_flows WHERE purpose IS NOT NULL) GROUP BY text ORDER BY n DESC "
            f"LIMIT {publish.MEMOS_PER_RING}",
        )
    ]
    n_people = int(people["n"] or 0)
    ring = publish.RingFacts(
        ring_key=key,
        run_id="manual",
        hub_account=hub,
        window_start=window_start,
        window_end=window_end,
        total_in=sum((Decimal(totals[no]["total_in"]) for no in totals), Decimal(0)),
        total_out=sum((Decimal(totals[no]["total_out"]) for no in totals), Decimal(0)),
        individual_payers=n_people,
        elderly_share=(int(people["elderly"] or 0) / n_people) if n_people else 0.0,
        provinces=sorted({r["province"] for r in provinces}),
        score=0.0,
        typologies=[],
        accounts=ring_accounts,
        payments=payments,
    )
    ring.province_stats = {
        "by_province": [
            {"province": r["province"], "participants": r["n"], "amount": Decimal(r["amount"] or 0)} for r in provinces
        ],
        "local_participants": 0,
        "local_amount": Decimal(0),
    }
    ring.flow = {
        "participants": n_people,
        "participant_amount": Decimal(people["amount"] or 0),
        "hub_lag_hours": None,
        "hub_payees": hub_payees[:3],
        "hub_payee_count": len(hub_payees),
        "hub_out": sum((Decimal(r["amount"]) for r in hub_payees), Decimal(0)),
        "cash_out": cash_out,
        "payouts": {},
    }
    ring.texts = texts
    con.execute("DROP TABLE IF EXISTS manual_flows; DROP TABLE IF EXISTS manual_accounts")
    return ring


def open_manual_lead(
    store: CaseStore, warehouse_con: duckdb.DuckDBPyConnection, tip_id: str, user: str | None, note: str | None
) -> str:
    """An analyst opens a lead (source manual) on the accounts a tip matched, with evidence from the warehouse;
    the tip is attached to it. Refused when the tip already has a lead or matched no account."""
    why = _need(note, "立线索理由 / a reason")
    with store.read() as conn:
        acting = _acting(store, conn, user, WORKERS, "据举报立线索")
        tip = dict(conn.execute(sa.select(tips).where(tips.c.tip_id == tip_id)).mappings().one())
        matched = conn.execute(sa.select(tip_matches).where(tip_matches.c.tip_id == tip_id)).mappings().all()
    if any(m["lead_id"] for m in matched):
        raise LifecycleError(f"举报 {tip_id} 已关联线索，请在该线索上办理 / the tip is already attached to a lead")
    accounts = sorted({m["account_no"] for m in matched if m["account_no"]})
    if not accounts:
        raise LifecycleError(f"举报 {tip_id} 没有匹配到账户，不能立线索 / the tip matched no account")
    key = "manual-" + hashlib.md5("|".join(accounts).encode()).hexdigest()
    ring = manual_ring(warehouse_con, accounts, key)
    with store.write() as conn:
        tip = _lock_tip(conn, tip_id)
        if conn.execute(
            sa.select(tip_matches.c.match_id)
            .where(tip_matches.c.tip_id == tip_id)
            .where(tip_matches.c.lead_id.is_not(None))
        ).first():
            raise LifecycleError(f"举报 {tip_id} 已关联线索 / the tip is already attached to a lead")
        now = store.now()
        lead_id = publish._next_lead_id(conn, now.year)
        fields = publish._computed_fields(ring, publish.lead_policy(store.settings))
        fields["priority"] = [*fields["priority"], TIP_MARK]
        conn.execute(
            leads.insert().values(
                lead_id=lead_id,
                ring_key=key,
                status="NEW",
                source="manual",
                created_at=now,
                updated_at=now,
                **fields,
            )
        )
        account_rows, _, payment_rows = publish._evidence_rows(ring, lead_id)
        for table, rows in ((lead_accounts, account_rows), (lead_payments, payment_rows)):
            if rows:
                conn.execute(table.insert(), rows)
        detail = {"tip_id": tip_id, "accounts": [mask_account(no) for no in accounts], "payments": len(payment_rows)}
        store.append_event(
            conn, lead_id, acting["name"], "created", f"据群众举报 {tip_id} 人工立线索：{why}", None, "NEW", detail
        )
        by_account = {m["account_no"]: m for m in matched if m["account_no"]}
        attached = [
            Match(m["kind"], m["subject"], no, m["matched_name"], lead_id, m["strength"], m["how"] + "；人工立线索")
            for no, m in by_account.items()
        ]
        _store_matches(store, conn, tip, attached, acting["name"])
        store.append_tip_event(
            conn, tip_id, acting["name"], "manual_lead", why, tip["status"], tip["status"], {"lead_id": lead_id}
        )
    return lead_id
