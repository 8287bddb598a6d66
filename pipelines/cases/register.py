"""The register of known lawful entities (合法主体名录): licensed insurers, banks' own settlement and
wealth-product accounts, registered co-ops and care homes, kept by the office. A registered entity is never
dropped: its rings still become leads, ranked lower and marked with the entry, unless its money shows a suspect
sign (rules/lookalikes.yaml) — then it is raised, marked as registered yet suspect. Every change is audited.
"""

from __future__ import annotations

import sqlalchemy as sa

from pipelines.cases.store import CaseStore, inserted_id, lawful_register
from pipelines.errors import FundflowError, NotFoundError
from pipelines.vocabulary import LOOKALIKE_KINDS

MAINTAINERS = ("supervisor", "admin")
"""Roles that may change the register."""


class RegisterError(FundflowError):
    """A register change that cannot be made as asked."""


def _check_maintainer(store: CaseStore, conn, user: str) -> None:
    found = store.get_user(user, conn)
    if found["role"] not in MAINTAINERS or found["disabled"]:
        raise RegisterError(
            f"只有督导或管理员可以修改名录 / only a supervisor or admin may change the register: {user}"
        )


def add_entry(
    store: CaseStore,
    user: str,
    name: str,
    kind: str,
    note: str,
    account_no: str | None = None,
    id_no: str | None = None,
    licence: str | None = None,
) -> int:
    """Register an account or a holder (by credit code); returns the entry id. Who and why are required."""
    if kind not in LOOKALIKE_KINDS:
        raise RegisterError(f"未知类别 / unknown kind '{kind}'; 可选 / one of: {', '.join(LOOKALIKE_KINDS)}")
    if not (account_no or id_no):
        raise RegisterError("须给出账号或统一社会信用代码 / give an account number or a credit code")
    if not (user and user.strip()) or not (note and note.strip()):
        raise RegisterError("须注明登记人和理由 / who registers and why are required (--user, --note)")
    with store.write() as conn:
        _check_maintainer(store, conn, user)
        active = _active(conn).where(
            sa.or_(
                lawful_register.c.account_no == account_no if account_no else sa.false(),
                lawful_register.c.id_no == id_no if id_no else sa.false(),
            )
        )
        existing = conn.execute(active).mappings().first()
        if existing is not None:
            raise RegisterError(f"已登记 / already registered as entry {existing['entry_id']}: {existing['name']}")
        entry_id = inserted_id(
            conn.execute(
                lawful_register.insert().values(
                    account_no=account_no,
                    id_no=id_no,
                    name=name,
                    kind=kind,
                    licence=licence,
                    note=note,
                    added_by=user,
                    added_at=store.now(),
                )
            )
        )
        store.append_audit(
            conn,
            user,
            "register_add",
            target=f"register:{entry_id}",
            reason=note,
            detail={"name": name, "kind": kind, "account_no": account_no, "id_no": id_no, "licence": licence},
        )
    return entry_id


def remove_entry(store: CaseStore, user: str, entry_id: int, reason: str) -> None:
    """Take an entry off the register (kept, with who, when and why): its entity is judged like any other again."""
    if not (user and user.strip()) or not (reason and reason.strip()):
        raise RegisterError("须注明操作人和理由 / who removes and why are required (--user, --note)")
    with store.write() as conn:
        _check_maintainer(store, conn, user)
        row = conn.execute(_active(conn).where(lawful_register.c.entry_id == entry_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"没有有效的登记 / no active register entry {entry_id}")
        conn.execute(
            lawful_register.update()
            .where(lawful_register.c.entry_id == entry_id)
            .values(removed_by=user, removed_at=store.now(), removed_reason=reason)
        )
        store.append_audit(
            conn, user, "register_remove", target=f"register:{entry_id}", reason=reason, detail={"name": row["name"]}
        )


def _active(_conn) -> sa.Select:
    return sa.select(lawful_register).where(lawful_register.c.removed_at.is_(None))


def list_entries(store: CaseStore, include_removed: bool = False) -> list[dict]:
    query = sa.select(lawful_register) if include_removed else _active(None)
    with store.read() as conn:
        return [dict(row) for row in conn.execute(query.order_by(lawful_register.c.entry_id)).mappings()]


def active_entries(conn) -> tuple[dict[str, dict], dict[str, dict]]:
    """The active entries inside a caller's transaction: by account number, and by holder credit code."""
    by_account: dict[str, dict] = {}
    by_id: dict[str, dict] = {}
    for row in conn.execute(_active(conn)).mappings():
        if row["account_no"]:
            by_account[row["account_no"]] = dict(row)
        if row["id_no"]:
            by_id[row["id_no"]] = dict(row)
    return by_account, by_id


def entry_line(entry: dict) -> str:
    """How a lead shows the entry: 登记在册 #3 名称（类别，许可证号），登记人 日期：理由."""
    licence = f"，{entry['licence']}" if entry.get("licence") else ""
    return (
        f"登记在册 #{entry['entry_id']} {entry['name']}（{LOOKALIKE_KINDS.get(entry['kind'], entry['kind'])}{licence}），"
        f"{entry['added_by']} {entry['added_at']:%Y-%m-%d} 登记：{entry['note']}"
    )
