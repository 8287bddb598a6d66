"""The lead lifecycle of DOMAIN §6.3 in one place: the table of allowed moves with their guards, who may make
them, and the ledger of measures (台账) a disposition holds. Every accepted change writes its event in the
same case-store transaction; a refused one raises `LifecycleError` naming what is allowed instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines.cases.store import CaseStore, inserted_id, leads, measures
from pipelines.errors import LifecycleError, NotFoundError
from pipelines.vocabulary import DISPOSITION_TYPES, LEAD_STATUS, ROLES

OPEN_STATUSES = ("NEW", "TRIAGE", "CONSULTATION", "DETERMINED_ILLEGAL", "NOT_ILLEGAL", "DISPOSITION")
TRIAGE_DAYS = 14  # 10 working days to triage (DOMAIN §6.3 SLA), in calendar days


@dataclass(frozen=True)
class MeasureKind:
    title_zh: str
    disposition_type: str


MEASURE_KINDS: dict[str, MeasureKind] = {
    "WARNING_TALK": MeasureKind("警示约谈", "REGULATE"),
    "RECTIFY": MeasureKind("责令整改", "REGULATE"),
    "STOP_ORDER": MeasureKind("责令停止", "ADMIN"),
    "SEAL_PREMISES": MeasureKind("查封经营场所", "ADMIN"),
    "SEIZE_ASSETS": MeasureKind("查封扣押资产", "ADMIN"),
    "ORDER_REPAY": MeasureKind("责令追回变价清退", "ADMIN"),
    "SUPERVISE_REPAY": MeasureKind("监督清退", "ADMIN"),
    "EXIT_BAN": MeasureKind("限制出境", "ADMIN"),
    "FINE": MeasureKind("罚款", "ADMIN"),
    "CREDIT_RECORD": MeasureKind("纳入信用记录", "ADMIN"),
    "POLICE_TRANSFER": MeasureKind("移送公安机关", "TRANSFER_POLICE"),
}
MEASURE_EDIT_STATUSES = ("TRIAGE", "CONSULTATION", "DETERMINED_ILLEGAL", "DISPOSITION")

WORKERS = frozenset({"analyst", "reviewer", "supervisor"})
SIGNERS = frozenset({"reviewer", "supervisor"})
WORKER_RANK = {"analyst": 1, "reviewer": 2, "supervisor": 3}
# Who may move a lead into each status; auditors and admins never change leads.
MOVE_ROLES: dict[str, frozenset[str]] = {
    "TRIAGE": WORKERS,
    "CONSULTATION": WORKERS,
    "MERGED": WORKERS,
    "ON_HOLD": WORKERS,
    "NOT_ILLEGAL": SIGNERS,
    "DETERMINED_ILLEGAL": SIGNERS,
    "DISPOSITION": SIGNERS,
    "CLOSED": SIGNERS,  # the confirming second person (逐项销号 sign-off)
}
ACTION_ROLES: dict[str, frozenset[str]] = {
    "assign": WORKERS,
    "resume": WORKERS,
    "propose_close": WORKERS,
    "measure_add": WORKERS,
    "measure_done": WORKERS,
    "split": WORKERS,
}


@dataclass
class Move:
    """What a guard sees: the lead as locked, the move asked for, and the lead's ledger."""

    lead: dict
    to_status: str
    user: dict
    note: str
    measures: list[dict]
    merge_target: dict | None = None
    assignee: str | None = None


Guard = Callable[[Move], "str | None"]  # a refusal message, or None to allow


def _always(move: Move) -> str | None:
    return None


def _has_assignee(move: Move) -> str | None:
    if not (move.assignee or move.lead["assignee"]):
        return "须先指定承办人 / assign the lead to someone first"
    return None


def _merge_target(move: Move) -> str | None:
    target = move.merge_target
    if target is None:
        return "须指明合并到哪条线索 / name the lead it duplicates"
    if target["lead_id"] == move.lead["lead_id"]:
        return "不能合并到自身 / a lead cannot be merged into itself"
    if target["status"] not in OPEN_STATUSES and target["status"] != "ON_HOLD":
        return f"目标线索当前为「{LEAD_STATUS[target['status']]}」 / target lead is {target['status']}"
    return None


def _close_confirmed(move: Move) -> str | None:
    proposer = move.lead["close_proposed_by"]
    if not proposer:
        return (
            "须先由一人提出销号，再由另一人确认 / closing needs a proposal first, then a second person's confirmation"
        )
    if proposer == move.user["name"]:
        return (
            f"销号须由提出人（{proposer}）以外的人确认 / the proposer ({proposer}) cannot confirm their own close-out"
        )
    return None


def _ledger_done(move: Move) -> str | None:
    if not move.measures:
        return "台账中没有处置事项 / the ledger has no measures"
    still_open = [m for m in move.measures if m["status"] != "DONE"]
    if still_open:
        names = "、".join(f"#{m['measure_id']} {m['title_zh']}" for m in still_open)
        return f"台账仍有 {len(still_open)} 项未销号：{names} / {len(still_open)} ledger item(s) still open"
    return None


def _close_after_disposition(move: Move) -> str | None:
    return _ledger_done(move) or _close_confirmed(move)


def _measures_of(types: tuple[str, ...], need_due: bool = False) -> Guard:
    def guard(move: Move) -> str | None:
        fitting = [m for m in move.measures if m["disposition_type"] in types and (m["due_date"] or not need_due)]
        if not fitting:
            wanted = " / ".join(DISPOSITION_TYPES[kind] for kind in types)
            return f"须先在台账中登记处置事项（{wanted}）/ add a ledger measure of type {' or '.join(types)} first"
        return None

    return guard


def _back_from_hold(move: Move) -> str | None:
    if move.to_status != move.lead["hold_from"]:
        return (
            f"挂起的线索只能回到原状态「{LEAD_STATUS[move.lead['hold_from']]}」 / "
            f"an ON_HOLD lead returns to {move.lead['hold_from']}"
        )
    return None


# The transition table of DOMAIN §6.3: from → {to: guard}. Nothing else moves a lead.
ALLOWED: dict[str, dict[str, Guard]] = {
    "NEW": {"TRIAGE": _has_assignee, "MERGED": _merge_target, "ON_HOLD": _always},
    "TRIAGE": {
        "CONSULTATION": _always,
        # Excluded at triage: the note gives the reason (no features, normal business, or handed over).
        "CLOSED": _close_confirmed,
        # Direct police transfer (urgent crime), or regularisation (警示约谈 / 责令整改 with a deadline).
        "DISPOSITION": _measures_of(("TRANSFER_POLICE", "REGULATE"), need_due=True),
        "MERGED": _merge_target,
        "ON_HOLD": _always,
    },
    "CONSULTATION": {
        "NOT_ILLEGAL": _always,
        "DETERMINED_ILLEGAL": _always,
        "DISPOSITION": _measures_of(("REGULATE",), need_due=True),
        "ON_HOLD": _always,
    },
    "NOT_ILLEGAL": {"CLOSED": _close_confirmed, "ON_HOLD": _always},
    "DETERMINED_ILLEGAL": {"DISPOSITION": _measures_of(("ADMIN", "TRANSFER_POLICE")), "ON_HOLD": _always},
    "DISPOSITION": {"CLOSED": _close_after_disposition, "ON_HOLD": _always},
    "ON_HOLD": {status: _back_from_hold for status in OPEN_STATUSES},
    "CLOSED": {},
    "MERGED": {},
}


def status_label(status: str) -> str:
    return f"{LEAD_STATUS.get(status, status)} {status}"


def allowed_moves(lead: dict, role: str | None = None) -> list[str]:
    """Statuses this lead may move to now (for this role, when given); guards are checked on the move."""
    if lead["status"] == "ON_HOLD":
        targets = [lead["hold_from"]]
    else:
        targets = list(ALLOWED[lead["status"]])
    if role is not None:
        if lead["status"] == "ON_HOLD":
            targets = [t for t in targets if role in ACTION_ROLES["resume"]]
        else:
            targets = [t for t in targets if role in MOVE_ROLES[t]]
    return targets


def _refuse_move(lead: dict, to_status: str) -> LifecycleError:
    allowed = allowed_moves(lead)
    listed = "、".join(status_label(status) for status in allowed) or "无 / none"
    return LifecycleError(
        f"线索 {lead['lead_id']} 不能从「{LEAD_STATUS[lead['status']]}」转为「{LEAD_STATUS.get(to_status, to_status)}」"
        f" / {lead['status']} → {to_status} is not allowed; 可转为 / allowed: {listed}"
    )


def _acting_user(
    store: CaseStore, conn: Connection, name: str | None, action: tuple[str, str], roles: frozenset[str]
) -> dict:
    """The user doing `action` (Chinese, English), refused unless known, active and in one of `roles`."""
    if not name:
        raise LifecycleError("须指明操作人 / a user is required")
    user = store.get_user(name, conn)
    if user["disabled"]:
        raise LifecycleError(f"用户已停用 / user is disabled: {name}")
    if user["role"] not in roles:
        allowed = "、".join(ROLES[role] for role in sorted(roles))
        raise LifecycleError(
            f"角色「{ROLES[user['role']]}」不能{action[0]}，须由{allowed}操作 / role {user['role']} may not {action[1]}"
        )
    return user


def _need_note(note: str | None) -> str:
    if not note or not note.strip():
        raise LifecycleError("须填写说明 / a note is required")
    return note.strip()


def _ledger(conn: Connection, lead_id: str) -> list[dict]:
    query = sa.select(measures).where(measures.c.lead_id == lead_id).order_by(measures.c.measure_id)
    return [dict(row) for row in conn.execute(query).mappings()]


def _check_expected(lead: dict, expected_status: str | None) -> None:
    if expected_status and lead["status"] != expected_status:
        raise LifecycleError(
            f"线索 {lead['lead_id']} 已被他人改为「{LEAD_STATUS[lead['status']]}」，请刷新 / "
            f"the lead is now {lead['status']} (changed by someone else)"
        )


def move(
    store: CaseStore,
    lead_id: str,
    to_status: str,
    user: str | None,
    note: str | None,
    *,
    merge_into: str | None = None,
    assignee: str | None = None,
    due: date | None = None,
    expected_status: str | None = None,
) -> int:
    """One lifecycle step; returns the event's seq. `expected_status` refuses if someone moved it meanwhile."""
    note = _need_note(note)
    with store.write() as conn:
        lead = store.lock_lead(conn, lead_id)
        _check_expected(lead, expected_status)
        return _transition(store, conn, lead, to_status, user, note, merge_into, assignee, due)


def _transition(
    store: CaseStore,
    conn: Connection,
    lead: dict,
    to_status: str,
    user_name: str | None,
    note: str,
    merge_into: str | None,
    assignee: str | None,
    due: date | None,
) -> int:
    from_status = lead["status"]
    guard = ALLOWED.get(from_status, {}).get(to_status)
    if guard is None:
        raise _refuse_move(lead, to_status)
    resuming = from_status == "ON_HOLD"
    roles = ACTION_ROLES["resume"] if resuming else MOVE_ROLES[to_status]
    user = _acting_user(
        store, conn, user_name, (f"转为「{LEAD_STATUS[to_status]}」", f"move a lead to {to_status}"), roles
    )
    merge_target = store.lock_lead(conn, merge_into) if merge_into else None
    if assignee:
        _assignable(store, conn, assignee, user)
    refusal = guard(Move(lead, to_status, user, note, _ledger(conn, lead["lead_id"]), merge_target, assignee))
    if refusal:
        raise LifecycleError(f"线索 {lead['lead_id']}：{refusal}")

    now = store.now()
    changes: dict = {"status": to_status, "updated_at": now}
    if to_status != "CLOSED":
        changes.update(close_proposed_by=None, close_proposed_at=None)
    detail: dict = {}
    if to_status == "TRIAGE" and from_status == "NEW":
        changes["assignee"] = assignee or lead["assignee"]
        changes["due_date"] = due or store.today() + timedelta(days=TRIAGE_DAYS)
        detail.update(assignee=changes["assignee"], due_date=changes["due_date"])
    if to_status == "ON_HOLD":
        changes.update(hold_from=from_status, hold_since=now)
    if resuming:
        changes.update(hold_from=None, hold_since=None)
        if lead["due_date"] and lead["hold_since"]:
            # The SLA clock stops while a lead waits on others: push its due date by the days on hold.
            paused = (now.date() - lead["hold_since"].date()).days
            changes["due_date"] = lead["due_date"] + timedelta(days=paused)
            detail["paused_days"] = paused
    if to_status == "MERGED":
        assert merge_target is not None, "the MERGED guard refuses a move without a target"
        changes["merged_into"] = merge_target["lead_id"]
        detail["merged_into"] = merge_target["lead_id"]
    if to_status == "CLOSED":
        changes["closed_at"] = now
        detail["proposed_by"] = lead["close_proposed_by"]
    conn.execute(leads.update().where(leads.c.lead_id == lead["lead_id"]).values(**changes))
    seq = store.append_event(conn, lead["lead_id"], user["name"], "move", note, from_status, to_status, detail, now)
    if merge_target is not None:
        conn.execute(leads.update().where(leads.c.lead_id == merge_target["lead_id"]).values(updated_at=now))
        store.append_event(
            conn,
            merge_target["lead_id"],
            user["name"],
            "merge_in",
            note,
            merge_target["status"],
            merge_target["status"],
            {"merged_from": lead["lead_id"]},
            now,
        )
    return seq


def may_assign_to(by_role: str, to_role: str) -> bool:
    """A lead goes to a worker of the assigner's rank or below: an analyst cannot hand work to a supervisor."""
    return to_role in WORKER_RANK and WORKER_RANK[to_role] <= WORKER_RANK.get(by_role, 0)


def _assignable(store: CaseStore, conn: Connection, name: str, by: dict) -> dict:
    person = store.get_user(name, conn)
    if person["disabled"] or person["role"] not in WORKERS:
        raise LifecycleError(
            f"不能把线索交给 {name}（{ROLES[person['role']]}，"
            f"{'已停用' if person['disabled'] else '无办理权限'}） / {name} cannot take leads"
        )
    if not may_assign_to(by["role"], person["role"]):
        raise LifecycleError(
            f"「{ROLES[by['role']]}」不能把线索交给「{ROLES[person['role']]}」{name} / "
            f"a {by['role']} cannot assign to a {person['role']}"
        )
    return person


def assign(
    store: CaseStore, lead_id: str, assignee: str, user: str | None, note: str | None, due: date | None = None
) -> int:
    """Give a lead to someone. A NEW lead moves to TRIAGE (初核) with it; returns the event's seq."""
    note = _need_note(note)
    with store.write() as conn:
        lead = store.lock_lead(conn, lead_id)
        if lead["status"] == "NEW":
            return _transition(store, conn, lead, "TRIAGE", user, note, None, assignee, due)
        if lead["status"] not in OPEN_STATUSES and lead["status"] != "ON_HOLD":
            raise LifecycleError(
                f"线索 {lead_id} 当前为「{LEAD_STATUS[lead['status']]}」，不能再分配 / "
                f"a {lead['status']} lead cannot be assigned"
            )
        acting = _acting_user(store, conn, user, ("分配线索", "assign leads"), ACTION_ROLES["assign"])
        _assignable(store, conn, assignee, acting)
        changes = {"assignee": assignee, "updated_at": store.now()}
        if due:
            changes["due_date"] = due
        conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(**changes))
        return store.append_event(
            conn,
            lead_id,
            acting["name"],
            "assign",
            note,
            lead["status"],
            lead["status"],
            {"assignee": assignee, "previous": lead["assignee"], "due_date": due},
        )


def propose_close(store: CaseStore, lead_id: str, user: str | None, note: str | None) -> int:
    """First half of a close-out (销号): someone proposes; a different reviewer or supervisor confirms."""
    note = _need_note(note)
    with store.write() as conn:
        lead = store.lock_lead(conn, lead_id)
        if "CLOSED" not in ALLOWED[lead["status"]]:
            raise _refuse_move(lead, "CLOSED")
        acting = _acting_user(store, conn, user, ("提出销号", "propose a close-out"), ACTION_ROLES["propose_close"])
        if lead["close_proposed_by"]:
            raise LifecycleError(
                f"线索 {lead_id} 已由 {lead['close_proposed_by']} 提出销号，待他人确认 / "
                f"close-out already proposed by {lead['close_proposed_by']}"
            )
        if lead["status"] == "DISPOSITION":
            refusal = _ledger_done(Move(lead, "CLOSED", acting, note, _ledger(conn, lead_id)))
            if refusal:
                raise LifecycleError(f"线索 {lead_id}：{refusal}")
        now = store.now()
        conn.execute(
            leads.update()
            .where(leads.c.lead_id == lead_id)
            .values(close_proposed_by=acting["name"], close_proposed_at=now, updated_at=now)
        )
        return store.append_event(
            conn, lead_id, acting["name"], "propose_close", note, lead["status"], lead["status"], {}, now
        )


def confirm_close(store: CaseStore, lead_id: str, user: str | None, note: str | None) -> int:
    """Second half of a close-out: a reviewer or supervisor other than the proposer closes the lead."""
    return move(store, lead_id, "CLOSED", user, note)


def add_measure(
    store: CaseStore, lead_id: str, kind: str, user: str | None, note: str | None, due_date: date | None
) -> int:
    """Add a ledger item (台账事项) to a lead; `kind` is a MEASURE_KINDS code or its Chinese title."""
    note = _need_note(note)
    code = measure_kind_code(kind)
    if due_date is None:
        raise LifecycleError("每个处置事项须有期限 / every measure needs a due date")
    with store.write() as conn:
        lead = store.lock_lead(conn, lead_id)
        if lead["status"] not in MEASURE_EDIT_STATUSES:
            raise LifecycleError(
                f"「{LEAD_STATUS[lead['status']]}」的线索不能登记处置事项 / "
                f"measures can be added in {', '.join(MEASURE_EDIT_STATUSES)} only"
            )
        acting = _acting_user(store, conn, user, ("登记处置事项", "add measures"), ACTION_ROLES["measure_add"])
        now = store.now()
        measure_id = inserted_id(
            conn.execute(
                measures.insert().values(
                    lead_id=lead_id,
                    kind=code,
                    title_zh=MEASURE_KINDS[code].title_zh,
                    disposition_type=MEASURE_KINDS[code].disposition_type,
                    due_date=due_date,
                    status="OPEN",
                    created_by=acting["name"],
                    created_at=now,
                    note=note,
                )
            )
        )
        conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(updated_at=now))
        store.append_event(
            conn,
            lead_id,
            acting["name"],
            "measure_add",
            note,
            lead["status"],
            lead["status"],
            {"measure_id": measure_id, "kind": code, "due_date": due_date},
            now,
        )
        return measure_id


def complete_measure(
    store: CaseStore,
    lead_id: str,
    measure_id: int,
    user: str | None,
    note: str | None,
    *,
    transfer_no: str | None = None,
    transfer_date: date | None = None,
    amount: float | None = None,
) -> int:
    """Close out one ledger item (逐项销号) with its evidence in the note; returns the event's seq.

    A police transfer needs its transfer number; `amount` records a fine or the sum repaid (清退), in yuan.
    """
    note = _need_note(note)
    with store.write() as conn:
        lead = store.lock_lead(conn, lead_id)
        item = (
            conn.execute(
                sa.select(measures).where(measures.c.measure_id == measure_id).where(measures.c.lead_id == lead_id)
            )
            .mappings()
            .first()
        )
        if item is None:
            raise NotFoundError(f"线索 {lead_id} 没有处置事项 #{measure_id} / no such measure on this lead")
        acting = _acting_user(store, conn, user, ("销号处置事项", "close out measures"), ACTION_ROLES["measure_done"])
        if item["status"] == "DONE":
            raise LifecycleError(f"处置事项 #{measure_id} 已销号 / measure already done")
        if item["disposition_type"] == "TRANSFER_POLICE" and not (transfer_no or item["transfer_no"]):
            raise LifecycleError("移送公安须填写移送文书编号 / a police transfer needs its transfer number")
        now = store.now()
        changes = {"status": "DONE", "done_by": acting["name"], "done_at": now, "closure_evidence": note}
        if transfer_no:
            changes.update(transfer_no=transfer_no, transfer_date=transfer_date or now.date())
        if amount is not None:
            changes["amount"] = amount
        conn.execute(measures.update().where(measures.c.measure_id == measure_id).values(**changes))
        conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(updated_at=now))
        return store.append_event(
            conn,
            lead_id,
            acting["name"],
            "measure_done",
            note,
            lead["status"],
            lead["status"],
            {"measure_id": measure_id, "transfer_no": transfer_no, "amount": amount},
            now,
        )


def measure_kind_code(kind: str) -> str:
    if kind.upper() in MEASURE_KINDS:
        return kind.upper()
    for code, known in MEASURE_KINDS.items():
        if known.title_zh == kind:
            return code
    listed = "、".join(f"{code} {known.title_zh}" for code, known in MEASURE_KINDS.items())
    raise LifecycleError(f"未知处置事项 / unknown measure '{kind}'; 可选 / one of: {listed}")
