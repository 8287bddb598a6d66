"""Search (检索): an account, ID or phone number, or a person's or company's name, across the case store's leads,
their accounts and alerts, and — only when it can be opened read-only — the warehouse's parties.

Numbers match only in full (no prefix search that would let someone enumerate numbers); names match as a part.
Everything shown is masked. The case store alone answers while the nightly run holds the warehouse (DESIGN §1).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import sqlalchemy as sa

from pipelines.cases.store import CaseStore, lead_accounts, lead_alerts, leads
from pipelines.masking import mask_account, mask_id, mask_phone
from pipelines.vocabulary import LEAD_STATUS

MIN_NAME_CHARS = 2
MIN_NUMBER_CHARS = 11  # a mobile phone; bank accounts and ID numbers are longer
MAX_ROWS = 200
NUMBER = re.compile(r"^[0-9A-Za-z]+$")
log = logging.getLogger("fundflow.console")


def normalise(text: str) -> str:
    return re.sub(r"[\s\-]", "", text or "").upper()


def kind_of(query: str) -> str:
    """'number' for a whole account, ID or phone number, 'name' for text, '' when too short to search."""
    if NUMBER.match(query) and any(ch.isdigit() for ch in query):
        return "number" if len(query) >= MIN_NUMBER_CHARS else ""
    return "name" if len(query) >= MIN_NAME_CHARS else ""


def search(store: CaseStore, warehouse: Path, text: str) -> dict:
    """{query, kind, message, leads: [...], accounts: [...], parties: [...], warehouse: 'ok'|'busy'|'absent'}."""
    compact = normalise(text)
    number_like = bool(NUMBER.match(compact)) and any(ch.isdigit() for ch in compact)
    query = compact if number_like else (text or "").strip()
    kind = kind_of(query)
    found: dict = {"query": text, "kind": kind, "leads": [], "accounts": [], "parties": [], "warehouse": "absent"}
    if not kind:
        found["message"] = (
            f"请输入完整号码（至少 {MIN_NUMBER_CHARS} 位）或至少 {MIN_NAME_CHARS} 个字的名称" if text.strip() else ""
        )
        return found
    found["message"] = ""
    with store.read() as conn:
        lead_query = sa.select(leads)
        account_query = sa.select(lead_accounts, leads.c.status).join(leads, leads.c.lead_id == lead_accounts.c.lead_id)
        if kind == "number":
            lead_query = lead_query.where(sa.or_(leads.c.hub_account == query, leads.c.subject_id_no == query))
            account_query = account_query.where(
                sa.or_(lead_accounts.c.account_no == query, sa.func.upper(lead_accounts.c.holder_id_no) == query)
            )
            alert_ids = {
                row.lead_id
                for row in conn.execute(sa.select(lead_alerts.c.lead_id).where(lead_alerts.c.subject == query))
            }
        else:
            pattern = f"%{_escape_like(query)}%"
            lead_query = lead_query.where(leads.c.subject_name.like(pattern, escape="\\"))
            account_query = account_query.where(lead_accounts.c.account_name.like(pattern, escape="\\"))
            alert_ids = set()
        lead_rows = [dict(row) for row in conn.execute(lead_query.limit(MAX_ROWS)).mappings()]
        account_rows = [dict(row) for row in conn.execute(account_query.limit(MAX_ROWS)).mappings()]
        known = {row["lead_id"] for row in lead_rows}
        extra = alert_ids - known
        if extra:
            lead_rows += [
                dict(row) for row in conn.execute(sa.select(leads).where(leads.c.lead_id.in_(extra))).mappings()
            ]
    found["leads"] = [
        {
            "lead_id": lead["lead_id"],
            "status_label": LEAD_STATUS.get(lead["status"], lead["status"]),
            "subject_name": lead["subject_name"] or "",
            "subject_id": mask_id(lead["subject_id_no"]),
            "hub_account": mask_account(lead["hub_account"]),
            "why": "预警对象" if lead["lead_id"] in alert_ids else "线索主体",
        }
        for lead in sorted(lead_rows, key=lambda lead: lead["lead_id"])
    ]
    found["accounts"] = [
        {
            "lead_id": row["lead_id"],
            "status_label": LEAD_STATUS.get(row["status"], row["status"]),
            "account": mask_account(row["account_no"]),
            "name": row["account_name"] or "",
            "holder_id": mask_id(row["holder_id_no"]),
            "role": row["role"],
        }
        for row in sorted(account_rows, key=lambda row: (row["lead_id"], row["account_no"]))
    ]
    found["parties"], found["warehouse"] = _warehouse_parties(warehouse, kind, query)
    return found


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _warehouse_parties(path: Path, kind: str, query: str) -> tuple[list[dict], str]:
    """Matching warehouse parties, read-only; ([], 'busy') while another process holds the file for writing."""
    if not path.exists():
        return [], "absent"
    try:
        con = duckdb.connect(str(path), read_only=True, config={"autoinstall_known_extensions": False})
    except duckdb.Error as exc:
        log.info("search: warehouse not readable now (%s); case store only", exc)
        return [], "busy"
    try:
        if kind == "number":
            sql = (
                "SELECT account_no, holder_name, holder_id_no, holder_phone FROM parties "
                "WHERE account_no = ? OR upper(holder_id_no) = ? OR holder_phone = ? LIMIT ?"
            )
            rows = con.execute(sql, [query, query, query, MAX_ROWS]).fetchall()
        else:
            sql = (
                "SELECT account_no, holder_name, holder_id_no, holder_phone FROM parties "
                "WHERE contains(holder_name, ?) LIMIT ?"
            )
            rows = con.execute(sql, [query, MAX_ROWS]).fetchall()
    except duckdb.Error as exc:
        log.warning("search: warehouse query failed: %s", exc)
        return [], "busy"
    finally:
        con.close()
    return [
        {"account": mask_account(no), "name": name or "", "holder_id": mask_id(id_no), "phone": mask_phone(phone)}
        for no, name, id_no, phone in rows
    ], "ok"


def also_in(store: CaseStore, account_no: str, lead_id: str) -> list[str]:
    """Other leads holding the same account ("also in XS…")."""
    query = (
        sa.select(lead_accounts.c.lead_id)
        .where(lead_accounts.c.account_no == account_no, lead_accounts.c.lead_id != lead_id)
        .order_by(lead_accounts.c.lead_id)
    )
    with store.read() as conn:
        return [row.lead_id for row in conn.execute(query)]
