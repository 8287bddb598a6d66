"""The tip register (群众举报): a tip's record, its procedure 受理 → 核实 → 办理 → 反馈, the answer to the
reporter, rewards, and the reporter's identity, which only a supervisor reads whole, with a reason, audited.

Every change writes a tip event (its own hash chain) in the same transaction; rewards and reveals also go to
the audit log. Matching a tip to the money lives in `pipelines.cases.tip_matching`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines.cases.sectors import sector_words, tag_sectors
from pipelines.cases.store import (
    CaseStore,
    canonical_json,
    hold_chain,
    inserted_id,
    tip_events,
    tip_files,
    tip_matches,
    tip_quarantine,
    tip_rewards,
    tips,
)
from pipelines.errors import FundflowError, LifecycleError, NotFoundError
from pipelines.masking import ORGANISATION_MARKERS, mask_account, mask_id, mask_name, mask_phone
from pipelines.vocabulary import ROLES, TIP_CHANNELS, TIP_REWARD_DECISIONS, TIP_ROW_REASONS, TIP_STATUS

TIP_ID_PREFIX = "JB"
SYSTEM_USER = "system"
WORKERS = frozenset({"analyst", "reviewer", "supervisor"})
SUPERVISORS = frozenset({"supervisor"})
OPEN_TIP_STATUSES = ("RECEIVED", "VERIFYING", "HANDLING")
# The procedure moves forward one step at a time; 反馈 (ANSWERED) is reached only by recording the answer.
NEXT_STATUS = {"RECEIVED": "VERIFYING", "VERIFYING": "HANDLING"}
SUBJECT_SEPARATORS = re.compile(r"[、；;，,\n]+")
NUMBER_SEPARATORS = re.compile(r"[、；;，,/\n]+")  # not spaces: 6222 0212 3456 is one number
CHANNEL_BY_WORD = {
    **{label: code for code, label in TIP_CHANNELS.items()},
    **{code.lower(): code for code in TIP_CHANNELS},
    "热线": "PHONE",
    "12345": "PHONE",
    "电子邮件": "MAIL",
    "email": "MAIL",
    "来信": "LETTER",
    "letter": "LETTER",
    "走访": "VISIT",
    "visit": "VISIT",
    "网上": "ONLINE",
    "online": "ONLINE",
}


@dataclass
class TipInput:
    """What intake knows about one tip, before it is stored (the console form and the importer build one)."""

    received_at: datetime
    content: str
    channel: str = "PHONE"
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter_id_no: str | None = None
    people: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    id_nos: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    town: str | None = None

    def row_key(self) -> str:
        """The tip's identity: the same report, loaded again from any file, is the same tip."""
        facts = [
            self.received_at.isoformat(sep=" "),
            " ".join(self.content.split()),
            self.reporter_phone or "",
            sorted(self.people + self.companies),
            sorted(self.accounts),
            sorted(self.phones),
        ]
        return hashlib.sha256(canonical_json(facts).encode("utf-8")).hexdigest()


# --- reading the words people write --------------------------------------------------------------------------


def plain_text(value: str | None) -> str:
    """Full-width forms to ordinary ones (ＡＢＣ１２３ → ABC123, （ → (), surrounding spaces gone."""
    return unicodedata.normalize("NFKC", value or "").strip()


def split_subjects(text: str | None) -> tuple[list[str], list[str]]:
    """`张三、康乐养老合作社；李四` → (people, companies): a name with an organisation word is a company."""
    people: list[str] = []
    companies: list[str] = []
    for part in SUBJECT_SEPARATORS.split(plain_text(text)):
        name = part.strip()
        if not name:
            continue
        target = companies if any(marker in name for marker in ORGANISATION_MARKERS) or len(name) > 5 else people
        if name not in target:
            target.append(name)
    return people, companies


def split_numbers(text: str | None) -> list[str]:
    """Account, phone or ID numbers as written in one cell: separators split, inner spaces and dashes go."""
    found: list[str] = []
    for part in NUMBER_SEPARATORS.split(plain_text(text)):
        number = re.sub(r"[\s-]+", "", part).upper()
        if number and number not in found:
            found.append(number)
    return found


def phone_digits(value: str) -> str:
    """`+86 138-1234-1234` → `13812341234`: the form the warehouse keeps."""
    digits = re.sub(r"\D", "", plain_text(value))
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def channel_code(text: str | None) -> str | None:
    """电话 / phone / PHONE → PHONE; None when it is none of the five channels."""
    word = plain_text(text)
    return CHANNEL_BY_WORD.get(word) or CHANNEL_BY_WORD.get(word.lower())


# --- users and guards ------------------------------------------------------------------------------------------


def _acting(store: CaseStore, conn: Connection, name: str | None, roles: frozenset[str], what: str) -> dict:
    if not name:
        raise LifecycleError("须指明操作人 / a user is required (--user)")
    user = store.get_user(name, conn)
    if user["disabled"]:
        raise LifecycleError(f"用户已停用 / user is disabled: {name}")
    if user["role"] not in roles:
        allowed = "、".join(ROLES[role] for role in sorted(roles))
        raise LifecycleError(
            f"角色「{ROLES[user['role']]}」不能{what}，须由{allowed}操作 / role {user['role']} may not"
        )
    return user


def _need(text: str | None, what: str) -> str:
    if not text or not text.strip():
        raise LifecycleError(f"须填写{what} / {what} is required")
    return text.strip()


def _lock_tip(conn: Connection, tip_id: str) -> dict:
    row = conn.execute(sa.select(tips).where(tips.c.tip_id == tip_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFoundError(f"举报不存在 / no such tip: {tip_id}")
    return dict(row)


def _next_tip_id(conn: Connection, year: int) -> str:
    prefix = f"{TIP_ID_PREFIX}{year}-"
    last = conn.execute(sa.select(sa.func.max(tips.c.tip_id)).where(tips.c.tip_id.like(prefix + "%"))).scalar()
    return f"{prefix}{(int(last[len(prefix) :]) + 1 if last else 1):06d}"


# --- registering ------------------------------------------------------------------------------------------------


def check_input(tip: TipInput) -> None:
    if tip.channel not in TIP_CHANNELS:
        raise FundflowError(f"未知渠道 / unknown channel '{tip.channel}' (one of {'、'.join(TIP_CHANNELS.values())})")
    if not tip.content or not tip.content.strip():
        raise FundflowError("须填写举报内容 / the tip's content is required")


def insert_tip(
    store: CaseStore,
    conn: Connection,
    tip: TipInput,
    user: str,
    note: str,
    source_file: str | None = None,
    source_row: int | None = None,
) -> str | None:
    """Register one tip inside the caller's transaction; None when a tip with its identity is already stored."""
    check_input(tip)
    # numbers in the one form the warehouse keeps, whoever typed them
    tip.accounts = [n for number in tip.accounts for n in split_numbers(number)]
    tip.id_nos = [n for number in tip.id_nos for n in split_numbers(number)]
    tip.phones = [phone_digits(n) for number in tip.phones for n in split_numbers(number)]
    tip.people = [plain_text(name) for name in tip.people if plain_text(name)]
    tip.companies = [plain_text(name) for name in tip.companies if plain_text(name)]
    row_key = tip.row_key()
    hold_chain(conn, "tip_events")  # two intakes of one tip at once: the second finds the first, and ids differ
    if conn.execute(sa.select(tips.c.tip_id).where(tips.c.row_key == row_key)).first():
        return None
    now = store.now()
    tip_id = _next_tip_id(conn, now.year)
    sectors, _ = tag_sectors([tip.content, *tip.companies], sector_words(store.settings))
    conn.execute(
        tips.insert().values(
            tip_id=tip_id,
            channel=tip.channel,
            received_at=tip.received_at,
            reporter_name=tip.reporter_name or None,
            reporter_phone=tip.reporter_phone or None,
            reporter_id_no=tip.reporter_id_no or None,
            content=tip.content.strip(),
            people=tip.people,
            companies=tip.companies,
            accounts=tip.accounts,
            phones=tip.phones,
            id_nos=tip.id_nos,
            addresses=tip.addresses,
            town=tip.town or None,
            sectors=sectors,
            status="RECEIVED",
            feedback_due=tip.received_at.date() + timedelta(days=store.settings.tip_feedback_days),
            match_state="NONE",
            source_file=source_file,
            source_row=source_row,
            row_key=row_key,
            created_by=user,
            created_at=now,
            updated_at=now,
        )
    )
    detail = {"channel": tip.channel, "source_file": source_file, "source_row": source_row}
    store.append_tip_event(conn, tip_id, user, "registered", note, None, "RECEIVED", detail)
    return tip_id


def register_tip(store: CaseStore, tip: TipInput, user: str | None, note: str = "") -> str:
    """Register one tip from the intake form (受理); refuses a tip already registered."""
    with store.write() as conn:
        _acting(store, conn, user, WORKERS, "登记举报")
        tip_id = insert_tip(store, conn, tip, user or "", note.strip() or "受理登记 / registered at intake")
    if tip_id is None:
        raise FundflowError("该举报已登记 / this tip is already registered")
    return tip_id


@dataclass
class QuarantinedRow:
    row_no: int
    field: str
    reason: str
    raw: dict


@dataclass
class ImportResult:
    file_name: str
    file_sha256: str
    status: str  # loaded | duplicate_file
    rows_read: int = 0
    registered: list[str] = field(default_factory=list)
    duplicates: int = 0
    quarantined: list[QuarantinedRow] = field(default_factory=list)


def register_import(
    store: CaseStore,
    file_name: str,
    file_sha256: str,
    rows: list[tuple[int, TipInput]],
    quarantined: list[QuarantinedRow],
    user: str | None,
) -> ImportResult:
    """Store one read spreadsheet in one transaction: each good row a tip (unless already known), each bad row
    in quarantine with its reason. A file already loaded (same SHA-256) adds nothing."""
    result = ImportResult(file_name, file_sha256, "loaded", rows_read=len(rows) + len({q.row_no for q in quarantined}))
    with store.write() as conn:
        if user is None:
            user = SYSTEM_USER  # a batch load, like `fundflow ingest`
        else:
            _acting(store, conn, user, WORKERS, "导入举报")
        known = conn.execute(sa.select(tip_files).where(tip_files.c.file_sha256 == file_sha256)).mappings().first()
        if known is not None:
            result.status = "duplicate_file"
            return result
        conn.execute(
            tip_files.insert().values(
                file_sha256=file_sha256,
                file_name=file_name,
                loaded_by=user,
                loaded_at=store.now(),
                rows_read=result.rows_read,
                registered=0,
                duplicates=0,
                quarantined=len(quarantined),
            )
        )
        for row_no, tip in rows:
            note = f"导入 / imported from {file_name} row {row_no}"
            tip_id = insert_tip(store, conn, tip, user, note, file_sha256, row_no)
            if tip_id is None:
                result.duplicates += 1
            else:
                result.registered.append(tip_id)
        if quarantined:
            conn.execute(
                tip_quarantine.insert(),
                [
                    {"file_sha256": file_sha256, "row_no": q.row_no, "field": q.field, "reason": q.reason, "raw": q.raw}
                    for q in quarantined
                ],
            )
        conn.execute(
            tip_files.update()
            .where(tip_files.c.file_sha256 == file_sha256)
            .values(registered=len(result.registered), duplicates=result.duplicates)
        )
        store.append_audit(
            conn,
            user,
            "tip_import",
            target=file_name,
            file_sha256=file_sha256,
            detail={
                "registered": len(result.registered),
                "duplicates": result.duplicates,
                "quarantined": len(quarantined),
            },
        )
    result.quarantined = quarantined
    return result


# --- reading ----------------------------------------------------------------------------------------------------


def is_overdue(tip: dict, today: date) -> bool:
    """Not answered by its feedback deadline (or answered after it)."""
    if tip["status"] == "ANSWERED":
        return bool(tip["answered_at"] and tip["answered_at"].date() > tip["feedback_due"])
    return today > tip["feedback_due"]


def list_tips(store: CaseStore, status: str | list[str] | None = None, match_state: str | None = None) -> list[dict]:
    """Tips, oldest deadline first, each with `overdue` and `lead_ids`; reporter fields stay whole here."""
    query = sa.select(tips).order_by(tips.c.feedback_due, tips.c.tip_id)
    if status:
        query = query.where(tips.c.status.in_([status] if isinstance(status, str) else status))
    if match_state:
        query = query.where(tips.c.match_state == match_state)
    today = store.today()
    with store.read() as conn:
        found = [dict(row) for row in conn.execute(query).mappings()]
        leads_of: dict[str, list[str]] = {}
        for tip_id, lead_id in conn.execute(
            sa.select(tip_matches.c.tip_id, tip_matches.c.lead_id).where(tip_matches.c.lead_id.is_not(None))
        ):
            leads_of.setdefault(tip_id, [])
            if lead_id not in leads_of[tip_id]:
                leads_of[tip_id].append(lead_id)
    for tip in found:
        tip["overdue"] = is_overdue(tip, today)
        tip["lead_ids"] = sorted(leads_of.get(tip["tip_id"], []))
    return found


def get_tip(store: CaseStore, tip_id: str, conn: Connection | None = None) -> dict:
    """One tip with its matches, events and rewards; reporter fields stay whole here (mask with `shown_tip`)."""
    if conn is None:
        with store.read() as own:
            return get_tip(store, tip_id, own)
    row = conn.execute(sa.select(tips).where(tips.c.tip_id == tip_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"举报不存在 / no such tip: {tip_id}")
    tip = dict(row)
    tip["matches"] = [
        dict(r)
        for r in conn.execute(
            sa.select(tip_matches).where(tip_matches.c.tip_id == tip_id).order_by(tip_matches.c.match_id)
        ).mappings()
    ]
    tip["events"] = [
        dict(r)
        for r in conn.execute(
            sa.select(tip_events).where(tip_events.c.tip_id == tip_id).order_by(tip_events.c.seq)
        ).mappings()
    ]
    tip["rewards"] = [
        dict(r)
        for r in conn.execute(
            sa.select(tip_rewards).where(tip_rewards.c.tip_id == tip_id).order_by(tip_rewards.c.reward_id)
        ).mappings()
    ]
    tip["overdue"] = is_overdue(tip, store.today())
    tip["lead_ids"] = sorted({m["lead_id"] for m in tip["matches"] if m["lead_id"]})
    return tip


REPORTER_FIELDS = ("reporter_name", "reporter_phone", "reporter_id_no")


def shown_tip(tip: dict) -> dict:
    """A copy for anyone to read: the reporter masked, and the subjects' numbers masked too."""
    shown = dict(tip)
    shown["reporter_name"] = mask_name(tip.get("reporter_name")) if tip.get("reporter_name") else ""
    shown["reporter_phone"] = mask_phone(tip.get("reporter_phone"))
    shown["reporter_id_no"] = mask_id(tip.get("reporter_id_no"))
    shown["people"] = [mask_name(name) for name in tip.get("people") or []]
    shown["accounts"] = [mask_account(number) for number in tip.get("accounts") or []]
    shown["phones"] = [mask_phone(number) for number in tip.get("phones") or []]
    shown["id_nos"] = [mask_id(number) for number in tip.get("id_nos") or []]
    if "matches" in tip:
        shown["matches"] = [_shown_match(match) for match in tip["matches"]]
    return shown


def _shown_match(match: dict) -> dict:
    shown = dict(match)
    shown["account_no"] = mask_account(match["account_no"]) if match.get("account_no") else None
    if match["kind"] == "account":
        shown["subject"] = mask_account(match["subject"])
    elif match["kind"] == "phone":
        shown["subject"] = mask_phone(match["subject"])
    elif match["kind"] == "id_no":
        shown["subject"] = mask_id(match["subject"])
    return shown


def reveal_reporter(store: CaseStore, tip_id: str, user: str | None, reason: str | None) -> dict:
    """The reporter's name, phone and ID whole, for a supervisor who gives a reason; audited and on the tip."""
    with store.write() as conn:
        acting = _acting(store, conn, user, SUPERVISORS, "查看举报人身份")
        why = _need(reason, "查看理由 / a reason")
        tip = _lock_tip(conn, tip_id)
        store.append_audit(
            conn, acting["name"], "unmask", target=f"tip:{tip_id}", reason=why, detail={"what": "reporter"}
        )
        store.append_tip_event(conn, tip_id, acting["name"], "reporter_revealed", why, tip["status"], tip["status"])
    return {name: tip[name] for name in REPORTER_FIELDS}


# --- the procedure ----------------------------------------------------------------------------------------------


def move_tip(
    store: CaseStore, tip_id: str, to_status: str, user: str | None, note: str | None, expected: str | None = None
) -> int:
    """One step of 受理 → 核实 → 办理; 反馈 comes with the answer (`answer_tip`)."""
    why = _need(note, "说明 / a note")
    with store.write() as conn:
        acting = _acting(store, conn, user, WORKERS, "办理举报")
        tip = _lock_tip(conn, tip_id)
        if expected and tip["status"] != expected:
            raise LifecycleError(
                f"举报 {tip_id} 已被他人改为「{TIP_STATUS[tip['status']]}」，请刷新 / changed meanwhile"
            )
        if to_status == "ANSWERED":
            raise LifecycleError("反馈须登记答复内容 / answering needs the answer (tips answer)")
        if NEXT_STATUS.get(tip["status"]) != to_status:
            allowed = NEXT_STATUS.get(tip["status"])
            raise LifecycleError(
                f"举报 {tip_id} 不能从「{TIP_STATUS[tip['status']]}」转为「{TIP_STATUS.get(to_status, to_status)}」 / "
                f"{tip['status']} → {to_status} not allowed; next: {allowed or 'none'}"
            )
        conn.execute(tips.update().where(tips.c.tip_id == tip_id).values(status=to_status, updated_at=store.now()))
        return store.append_tip_event(conn, tip_id, acting["name"], "move", why, tip["status"], to_status)


def answer_tip(store: CaseStore, tip_id: str, user: str | None, answer: str | None) -> int:
    """Record what the reporter was told (反馈); the tip is then answered, late or on time."""
    told = _need(answer, "答复内容 / the answer")
    with store.write() as conn:
        acting = _acting(store, conn, user, WORKERS, "答复举报人")
        tip = _lock_tip(conn, tip_id)
        if tip["status"] == "ANSWERED":
            raise LifecycleError(f"举报 {tip_id} 已答复 / already answered")
        now = store.now()
        conn.execute(
            tips.update()
            .where(tips.c.tip_id == tip_id)
            .values(status="ANSWERED", answer=told, answered_by=acting["name"], answered_at=now, updated_at=now)
        )
        late = now.date() > tip["feedback_due"]
        return store.append_tip_event(
            conn, tip_id, acting["name"], "answer", told, tip["status"], "ANSWERED", {"late": late}
        )


def decide_reward(
    store: CaseStore, tip_id: str, user: str | None, decision: str, amount: str | Decimal | None, note: str | None
) -> int:
    """A supervisor's reward decision (GRANT with an amount, or REFUSE); audited. Returns the reward id."""
    why = _need(note, "说明 / a note")
    if decision not in TIP_REWARD_DECISIONS:
        raise FundflowError(f"未知奖励决定 / unknown decision '{decision}' (GRANT or REFUSE)")
    value = None
    if decision == "GRANT":
        try:
            value = Decimal(str(amount)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            raise FundflowError(f"奖励金额无法解析 / unreadable amount: '{amount}'") from None
        if value <= 0:
            raise FundflowError("奖励金额须大于零 / the amount must be positive")
    with store.write() as conn:
        acting = _acting(store, conn, user, SUPERVISORS, "决定奖励")
        tip = _lock_tip(conn, tip_id)
        reward_id = inserted_id(
            conn.execute(
                tip_rewards.insert().values(
                    tip_id=tip_id,
                    decision=decision,
                    amount=value,
                    decided_by=acting["name"],
                    decided_at=store.now(),
                    note=why,
                )
            )
        )
        detail = {"reward_id": reward_id, "decision": decision, "amount": value}
        store.append_audit(conn, acting["name"], "reward_decide", target=f"tip:{tip_id}", reason=why, detail=detail)
        store.append_tip_event(conn, tip_id, acting["name"], "reward_decide", why, tip["status"], tip["status"], detail)
    return int(reward_id)


def pay_reward(store: CaseStore, reward_id: int, user: str | None, paid_on: date, note: str | None) -> None:
    """Record that a granted reward was paid (date, by whom); audited."""
    why = _need(note, "说明 / a note")
    with store.write() as conn:
        acting = _acting(store, conn, user, SUPERVISORS, "登记奖励发放")
        reward = conn.execute(sa.select(tip_rewards).where(tip_rewards.c.reward_id == reward_id)).mappings().first()
        if reward is None:
            raise NotFoundError(f"奖励记录不存在 / no such reward: {reward_id}")
        if reward["decision"] != "GRANT":
            raise LifecycleError("不予奖励的决定不能发放 / a refused reward cannot be paid")
        if reward["paid_on"] is not None:
            raise LifecycleError(f"奖励已于 {reward['paid_on']} 发放 / already paid")
        conn.execute(
            tip_rewards.update()
            .where(tip_rewards.c.reward_id == reward_id)
            .values(paid_on=paid_on, paid_by=acting["name"])
        )
        tip = _lock_tip(conn, reward["tip_id"])
        detail = {"reward_id": reward_id, "paid_on": paid_on, "amount": reward["amount"]}
        store.append_audit(
            conn, acting["name"], "reward_paid", target=f"tip:{tip['tip_id']}", reason=why, detail=detail
        )
        store.append_tip_event(
            conn, tip["tip_id"], acting["name"], "reward_paid", why, tip["status"], tip["status"], detail
        )


def quarantined_rows(store: CaseStore, file_sha256: str | None = None) -> list[dict]:
    query = sa.select(tip_quarantine).order_by(tip_quarantine.c.file_sha256, tip_quarantine.c.row_no)
    if file_sha256:
        query = query.where(tip_quarantine.c.file_sha256 == file_sha256)
    with store.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def tip_counts(
    store: CaseStore, start: datetime | None = None, end: datetime | None = None, as_of: datetime | None = None
) -> dict:
    """Tips received in [start, end): how many; verified (moved past 受理), answered, overdue, attached to or
    turned into leads, and rewarded (paid, with the sum) — each as of `as_of` (default now)."""
    moment = as_of or store.now()
    query = sa.select(tips.c.tip_id, tips.c.feedback_due)
    if start:
        query = query.where(tips.c.received_at >= start)
    if end:
        query = query.where(tips.c.received_at < end)
    with store.read() as conn:
        found = {row.tip_id: row.feedback_due for row in conn.execute(query)}
        ids = sorted(found)
        steps = conn.execute(
            sa.select(tip_events.c.tip_id, tip_events.c.action, tip_events.c.at)
            .where(tip_events.c.tip_id.in_(ids))
            .where(tip_events.c.at < moment)
            .where(tip_events.c.action.in_(("move", "answer")))
        ).all()
        with_leads = set(
            conn.execute(
                sa.select(tip_matches.c.tip_id)
                .where(tip_matches.c.lead_id.is_not(None))
                .where(tip_matches.c.found_at < moment)
                .where(tip_matches.c.tip_id.in_(ids))
            ).scalars()
        )
        paid = conn.execute(
            sa.select(tip_rewards.c.tip_id, tip_rewards.c.amount)
            .where(tip_rewards.c.decision == "GRANT")
            .where(tip_rewards.c.paid_on.is_not(None))
            .where(tip_rewards.c.paid_on < moment.date() + timedelta(days=1))
            .where(tip_rewards.c.tip_id.in_(ids))
        ).all()
    verified = {tip_id for tip_id, _, _ in steps}
    answered = {tip_id: at for tip_id, action, at in steps if action == "answer"}
    overdue = {
        tip_id
        for tip_id, due in found.items()
        if (answered[tip_id].date() > due if tip_id in answered else moment.date() > due)
    }
    return {
        "received": len(found),
        "verified": len(verified),
        "answered": len(answered),
        "overdue": len(overdue),
        "to_leads": len(with_leads),
        "rewarded": len({tip_id for tip_id, _ in paid}),
        "reward_amount": sum((Decimal(str(amount or 0)) for _, amount in paid), Decimal(0)),
    }


# --- rows of the hotline's spreadsheet -------------------------------------------------------------------------

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日")


def parse_received(text: str) -> datetime | None:
    value = plain_text(text)
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            continue
    return None


def parse_row(row_no: int, cells: dict[str, str | None], now: datetime) -> tuple[TipInput | None, list[QuarantinedRow]]:
    """One spreadsheet row → a tip, or the reasons (one per field) it goes to quarantine instead."""
    problems: list[QuarantinedRow] = []
    # The reporter's identity is not kept in quarantine: the hotline's own sheet still has it.
    hide = {"reporter_name": mask_name, "reporter_phone": mask_phone, "reporter_id_no": mask_id}
    raw = {name: hide[name](value) if name in hide else value for name, value in cells.items() if value is not None}

    def bad(field_name: str, code: str, extra: str = "") -> None:
        problems.append(
            QuarantinedRow(row_no, field_name, TIP_ROW_REASONS[code] + (f": {extra}" if extra else ""), raw)
        )

    received = None
    if not cells.get("received_at"):
        bad("received_at", "missing", "受理时间")
    else:
        received = parse_received(cells["received_at"] or "")
        if received is None:
            bad("received_at", "bad_time", cells["received_at"] or "")
        elif received > now:
            bad("received_at", "future_time", cells["received_at"] or "")
    if not cells.get("content"):
        bad("content", "missing", "举报内容")
    channel = "PHONE"
    if cells.get("channel"):
        channel = channel_code(cells["channel"]) or ""
        if not channel:
            bad("channel", "bad_channel", cells["channel"] or "")
    accounts = split_numbers(cells.get("accounts"))
    if any(not number.isdigit() for number in accounts):
        bad("accounts", "bad_number", cells.get("accounts") or "")
    phones = [phone_digits(p) for p in split_numbers(cells.get("phones"))]
    if any(not number.isdigit() for number in phones):
        bad("phones", "bad_number", cells.get("phones") or "")
    if problems or received is None:
        return None, problems
    people, companies = split_subjects(cells.get("subjects"))
    people = [name for name in people if not _looks_like_id(name.upper())]
    given_phone = cells.get("reporter_phone")
    reporter_phone = phone_digits(given_phone) if given_phone else None
    return (
        TipInput(
            received_at=received,
            content=plain_text(cells["content"]),
            channel=channel,
            reporter_name=plain_text(cells.get("reporter_name")) or None,
            reporter_phone=reporter_phone or None,
            reporter_id_no=plain_text(cells.get("reporter_id_no")).upper() or None,
            people=people,
            companies=companies,
            accounts=accounts,
            phones=phones,
            addresses=[a for a in SUBJECT_SEPARATORS.split(plain_text(cells.get("addresses"))) if a.strip()],
            town=plain_text(cells.get("town")) or None,
            id_nos=[n for n in split_numbers(cells.get("subjects")) if _looks_like_id(n)],
        ),
        [],
    )


def _looks_like_id(text: str) -> bool:
    return len(text) == 18 and text[:17].isdigit()
