"""The console's 群众举报 pages: the tip list with the intake form, a tip's detail with its matches and history,
and its actions (procedure, answer, match, manual lead, rewards, the supervisor's reveal of the reporter).

The reporter is masked on every page; a supervisor reveals them with a reason (audited), and the page the
reveal redirects to shows them for a few minutes. Matching and intake use the case store's leads; only
"match against the warehouse" and "open a manual lead" open the warehouse, read-only, and say so when the
nightly run holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import State

from pipelines.cases import tip_matching, tips
from pipelines.cases.store import CaseStore, audit
from pipelines.errors import FundflowError, WarehouseBusyError
from pipelines.formatting import parse_date
from pipelines.vocabulary import (
    TIP_ACTIONS,
    TIP_CHANNELS,
    TIP_MATCH_KINDS,
    TIP_MATCH_STATE,
    TIP_OVERDUE,
    TIP_REWARD_DECISIONS,
    TIP_STATUS,
)
from pipelines.warehouse import db as warehouse

REVEAL_SHOWN_MINUTES = 10


def _lines(text: str) -> list[str]:
    return [part for part in tips.SUBJECT_SEPARATORS.split(tips.plain_text(text)) if part.strip()]


def _revealed(store: CaseStore, tip_id: str, user: str, seq: int | None) -> bool:
    """True when audit record `seq` is this user's reveal of this tip, made within the last few minutes."""
    if seq is None:
        return False
    with store.read() as conn:
        row = conn.execute(sa.select(audit).where(audit.c.seq == seq)).mappings().first()
    return bool(
        row
        and row["action"] == "unmask"
        and row["user"] == user
        and row["target"] == f"tip:{tip_id}"
        and row["at"] >= store.now() - timedelta(minutes=REVEAL_SHOWN_MINUTES)
    )


def add_routes(
    pages: APIRouter,
    page: Callable[..., Response],
    current_user: Callable,
    state: State,
    flash: Callable[[Request, str, str], None],
) -> None:
    labels = {
        "channels": TIP_CHANNELS,
        "status": TIP_STATUS,
        "match_state": TIP_MATCH_STATE,
        "match_kinds": TIP_MATCH_KINDS,
        "actions": TIP_ACTIONS,
        "decisions": TIP_REWARD_DECISIONS,
        "overdue": TIP_OVERDUE,
    }

    def back(tip_id: str) -> Response:
        return RedirectResponse(f"/tips/{quote(tip_id)}", status_code=303)

    def done(request: Request, tip_id: str, action: Callable[[], object], message: str) -> Response:
        try:
            action()
        except FundflowError as exc:
            flash(request, "error", str(exc))
        else:
            flash(request, "ok", message)
        return back(tip_id)

    @pages.get("/tips")
    def tips_page(request: Request, status: str = "", user=Depends(current_user)) -> Response:
        found = tips.list_tips(state.store, status=status or None)
        return page(
            request,
            "tips.html",
            user,
            tips=[tips.shown_tip(tip) for tip in found],
            status=status,
            labels=labels,
            may_work=user.role in tips.WORKERS,
            now=state.store.now().strftime("%Y-%m-%dT%H:%M"),
        )

    @pages.post("/tips")
    def intake(
        request: Request,
        received_at: str = Form(...),
        channel: str = Form(...),
        content: str = Form(""),
        reporter_name: str = Form(""),
        reporter_phone: str = Form(""),
        reporter_id_no: str = Form(""),
        subjects: str = Form(""),
        accounts: str = Form(""),
        phones: str = Form(""),
        addresses: str = Form(""),
        town: str = Form(""),
        user=Depends(current_user),
    ) -> Response:
        try:
            received = datetime.fromisoformat(received_at.strip())
        except ValueError:
            flash(request, "error", f"受理时间格式有误 / unreadable time: '{received_at}'")
            return RedirectResponse("/tips", status_code=303)
        people, companies = tips.split_subjects(subjects)
        tip = tips.TipInput(
            received_at=received,
            content=content,
            channel=channel,
            reporter_name=reporter_name.strip() or None,
            reporter_phone=tips.phone_digits(reporter_phone) or None,
            reporter_id_no=reporter_id_no.strip().upper() or None,
            people=people,
            companies=companies,
            accounts=tips.split_numbers(accounts),
            phones=tips.split_numbers(phones),
            addresses=_lines(addresses),
            town=town.strip() or None,
        )
        try:
            tip_id = tips.register_tip(state.store, tip, user.name)
        except FundflowError as exc:
            flash(request, "error", str(exc))
            return RedirectResponse("/tips", status_code=303)
        new = tip_matching.match_tip(state.store, None, tip_id, user.name)
        flash(request, "ok", f"已登记 {tip_id}；与线索比对新匹配 {len(new)} 项（账户比对见“与数据仓库比对”）")
        return back(tip_id)

    @pages.get("/tips/{tip_id}")
    def tip_page(request: Request, tip_id: str, shown: int | None = None, user=Depends(current_user)) -> Response:
        tip = tips.get_tip(state.store, tip_id)
        reporter = None
        if user.role in tips.SUPERVISORS and _revealed(state.store, tip_id, user.name, shown):
            reporter = {name: tip[name] for name in tips.REPORTER_FIELDS}
        return page(
            request,
            "tip.html",
            user,
            tip=tips.shown_tip(tip),
            reporter=reporter,
            labels=labels,
            next_status=tips.NEXT_STATUS.get(tip["status"]),
            may_work=user.role in tips.WORKERS,
            may_supervise=user.role in tips.SUPERVISORS,
            has_accounts=any(m["account_no"] for m in tip["matches"]),
        )

    @pages.post("/tips/{tip_id}/reveal")
    def reveal(request: Request, tip_id: str, reason: str = Form(""), user=Depends(current_user)) -> Response:
        try:
            tips.reveal_reporter(state.store, tip_id, user.name, reason)
        except FundflowError as exc:
            if user.role not in tips.SUPERVISORS:
                state.store.write_audit(
                    user.name, "unmask_refused", target=f"tip:{tip_id}", detail={"what": "reporter"}
                )
            flash(request, "error", str(exc))
            return back(tip_id)
        with state.store.read() as conn:
            seq = conn.execute(
                sa.select(sa.func.max(audit.c.seq))
                .where(audit.c.action == "unmask")
                .where(audit.c.user == user.name)
                .where(audit.c.target == f"tip:{tip_id}")
            ).scalar()
        # Redirect after POST: a reload shows the audited reveal again for a while, it does not reveal again.
        return RedirectResponse(f"/tips/{quote(tip_id)}?shown={seq}", status_code=303)

    @pages.post("/tips/{tip_id}/move")
    def move(
        request: Request, tip_id: str, to_status: str = Form(...), note: str = Form(""), user=Depends(current_user)
    ) -> Response:
        return done(
            request,
            tip_id,
            lambda: tips.move_tip(state.store, tip_id, to_status, user.name, note),
            f"已转为「{TIP_STATUS.get(to_status, to_status)}」",
        )

    @pages.post("/tips/{tip_id}/answer")
    def answer(request: Request, tip_id: str, answer: str = Form(""), user=Depends(current_user)) -> Response:
        return done(request, tip_id, lambda: tips.answer_tip(state.store, tip_id, user.name, answer), "已登记答复")

    @pages.post("/tips/{tip_id}/match")
    def match(request: Request, tip_id: str, user=Depends(current_user)) -> Response:
        if user.role not in tips.WORKERS:
            flash(request, "error", "该角色不能办理举报 / this role may not work on tips")
            return back(tip_id)
        try:
            con = warehouse.connect(state.settings, read_only=True) if state.settings.warehouse_path.exists() else None
        except WarehouseBusyError:
            con = None
            flash(request, "error", "数据仓库正忙（夜间任务运行中），仅与线索比对 / warehouse busy: leads only")
        try:
            new = tip_matching.match_tip(state.store, con, tip_id, user.name)
        finally:
            if con is not None:
                con.close()
        flash(request, "ok", f"新匹配 {len(new)} 项")
        return back(tip_id)

    @pages.post("/tips/{tip_id}/lead")
    def manual_lead(request: Request, tip_id: str, note: str = Form(""), user=Depends(current_user)) -> Response:
        try:
            con = warehouse.connect(state.settings, read_only=True)
        except WarehouseBusyError:
            flash(request, "error", "数据仓库正忙，请稍后再立线索 / warehouse busy, try again later")
            return back(tip_id)
        try:
            lead_id = tip_matching.open_manual_lead(state.store, con, tip_id, user.name, note)
        except FundflowError as exc:
            flash(request, "error", str(exc))
            return back(tip_id)
        finally:
            con.close()
        flash(request, "ok", f"已据举报立线索 {lead_id}")
        return RedirectResponse(f"/leads/{quote(lead_id)}", status_code=303)

    @pages.post("/tips/{tip_id}/reward")
    def reward(
        request: Request,
        tip_id: str,
        decision: str = Form(...),
        amount: str = Form(""),
        note: str = Form(""),
        user=Depends(current_user),
    ) -> Response:
        return done(
            request,
            tip_id,
            lambda: tips.decide_reward(state.store, tip_id, user.name, decision, amount or None, note),
            "已登记奖励决定",
        )

    @pages.post("/tips/{tip_id}/rewards/{reward_id}/paid")
    def paid(
        request: Request,
        tip_id: str,
        reward_id: int,
        paid_on: str = Form(""),
        note: str = Form(""),
        user=Depends(current_user),
    ) -> Response:
        def pay() -> None:
            tips.pay_reward(state.store, reward_id, user.name, parse_date(paid_on, "发放") or state.store.today(), note)

        return done(request, tip_id, pay, "已登记奖励发放")
