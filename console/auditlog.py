"""The auditor's 审计日志 page: the audit log, lead events and tip events, filtered by user, action, record and
date, paged, with each hash chain's verification status (`CaseStore.verify_chains`, recomputed on every visit).
Reads only; viewing it is itself audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.datastructures import State

from pipelines.cases.store import CaseStore, audit, events, tip_events
from pipelines.errors import FundflowError
from pipelines.formatting import parse_date
from pipelines.vocabulary import ACTION_LABELS, AUDIT_ACTIONS, AUDIT_LOGS, TIP_ACTIONS

PAGE_ROWS = 50
# Verifying recomputes every record (linear in the log), so a result is reused for a few minutes unless the
# auditor asks for a fresh one (重新校验); the page says when it was checked.
CHAIN_CHECK_REUSE = timedelta(minutes=5)
# log key → (table, the column naming the record it is about, labels of its actions)
LOGS = {
    "audit": (audit, "target", AUDIT_ACTIONS),
    "events": (events, "lead_id", ACTION_LABELS),
    "tip_events": (tip_events, "tip_id", TIP_ACTIONS),
}


@dataclass(frozen=True)
class LogFilter:
    log: str = "audit"
    user: str = ""
    action: str = ""
    target: str = ""  # a lead id (XS…), tip id (JB…) or other audit target; exact
    start: date | None = None
    end: date | None = None


def log_rows(store: CaseStore, chosen: LogFilter, page_no: int) -> tuple[list[dict], int]:
    """One page of the chosen log, newest first, and how many records match in all."""
    table, target_column, labels = LOGS[chosen.log]
    where = []
    if chosen.user:
        where.append(table.c.user == chosen.user)
    if chosen.action:
        where.append(table.c.action == chosen.action)
    if chosen.target:
        where.append(table.c[target_column] == chosen.target)
    if chosen.start:
        where.append(table.c.at >= datetime.combine(chosen.start, time.min))
    if chosen.end:
        where.append(table.c.at < datetime.combine(chosen.end + timedelta(days=1), time.min))
    with store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        found = conn.execute(
            sa.select(table)
            .where(*where)
            .order_by(table.c.seq.desc())
            .limit(PAGE_ROWS)
            .offset((page_no - 1) * PAGE_ROWS)
        ).mappings()
        rows = [
            dict(
                row,
                target=row[target_column],
                action_label=labels.get(row["action"], row["action"]),
                detail_text=_detail_text(row),
            )
            for row in found
        ]
    return rows, total


def _detail_text(row) -> str:
    """What the record says beyond who/when/what, on one line (reasons and notes first)."""
    parts = [str(row.get(key)) for key in ("reason", "note") if row.get(key)]
    if row.get("from_status") or row.get("to_status"):
        parts.append(f"{row.get('from_status') or ''} → {row.get('to_status') or ''}")
    parts += [f"{key}={value}" for key, value in (row.get("detail") or {}).items() if key != "path"]
    return "；".join(parts)


def choices(store: CaseStore, log: str) -> dict:
    """Users and actions that occur in one log, for the filter menus."""
    table, _column, labels = LOGS[log]
    with store.read() as conn:
        found_users = conn.execute(sa.select(table.c.user).distinct().order_by(table.c.user)).scalars().all()
        found_actions = conn.execute(sa.select(table.c.action).distinct().order_by(table.c.action)).scalars().all()
    return {"users": found_users, "actions": [(code, labels.get(code, code)) for code in found_actions]}


def chain_status(store: CaseStore, cache: dict, fresh: bool = False) -> dict:
    """Every chain's verification and when it was made: {"at": time, "chains": [...]}; reused from `cache` when
    checked within CHAIN_CHECK_REUSE and no fresh check is asked for."""
    now = store.now()
    if fresh or not cache or now - cache["at"] > CHAIN_CHECK_REUSE:
        cache.clear()
        cache.update(
            at=now,
            chains=[
                {
                    "chain": report.chain,
                    "label": AUDIT_LOGS.get(report.chain, report.chain),
                    "ok": report.ok,
                    "checked": report.checked,
                    "first_bad_seq": report.first_bad_seq,
                    "problem": report.problem,
                }
                for report in store.verify_chains()
            ],
        )
    return cache


def add_routes(
    pages: APIRouter,
    page: Callable[..., Response],
    current_user: Callable,
    state: State,
    refuse: Callable[[str], Exception],
) -> None:

    @pages.get("/audit")
    def audit_page(
        request: Request,
        log: str = "audit",
        user_name: str = Query("", alias="user"),
        action: str = "",
        target: str = "",
        start: str = "",
        end: str = "",
        page_no: int = Query(1, alias="page", ge=1),
        verify: str = "",
        user=Depends(current_user),
    ) -> Response:
        if user.role != "auditor":
            raise refuse("只有审计员可以查看审计日志 / only the auditor reads the audit log")
        problem = ""
        try:
            first, last = parse_date(start, "开始日期"), parse_date(end, "结束日期")
        except FundflowError as exc:
            first = last = None
            problem = str(exc)
        if first and last and first > last:
            problem = f"开始日期 {first} 晚于结束日期 {last}，请调换 / the range is reversed"
            first = last = None
        chosen = LogFilter(
            log=log if log in LOGS else "audit",
            user=user_name.strip()[:64],
            action=action.strip()[:24],
            target=target.strip()[:64],
            start=first,
            end=last,
        )
        rows, total = log_rows(state.store, chosen, page_no)
        pages_total = max(1, -(-total // PAGE_ROWS))
        if page_no > pages_total:
            page_no = pages_total
            rows, total = log_rows(state.store, chosen, page_no)
        state.store.write_audit(
            user.name,
            "audit_view",
            target=chosen.target or None,
            detail={
                "log": chosen.log,
                "user": chosen.user,
                "action": chosen.action,
                "start": str(first or ""),
                "end": str(last or ""),
            },
        )
        query = {key: value for key, value in request.query_params.items() if key not in ("page", "verify")}
        return page(
            request,
            "audit.html",
            user,
            chosen=chosen,
            rows=rows,
            total=total,
            page_no=page_no,
            pages_total=pages_total,
            page_query=urlencode(query),
            logs=list(AUDIT_LOGS.items()),
            choices=choices(state.store, chosen.log),
            checked=chain_status(state.store, state.checked_chains, fresh=bool(verify)),
            problem=problem,
        )
