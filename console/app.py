"""The analysts' web console (`fundflow console`): the lead queue, a lead's evidence and its decisions.

FastAPI with server-rendered Jinja pages; it reads and writes only the case store, never the DuckDB warehouse,
so it keeps serving while the nightly run holds the warehouse. Every route but login and static files needs a
session; every POST needs the session's CSRF token; pages send a strict Content-Security-Policy.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.middleware.sessions import SessionMiddleware
from starlette.templating import Jinja2Templates

from console import admin, auditlog, auth, dashboard, downloads, institutions, notes, search, sessions, users, views
from console import tips as tip_pages
from pipelines.cases import lifecycle, parts
from pipelines.cases.ranking import current_ranking
from pipelines.cases.store import CaseStore
from pipelines.errors import FundflowError, LifecycleError, NotFoundError
from pipelines.formatting import parse_date, yuan
from pipelines.masking import mask_account
from pipelines.settings import Settings
from pipelines.vocabulary import EXPORT_TITLES, FLOW_KINDS, FORM_FIELDS, LEAD_STATUS, QUEUE_VIEWS, ROLES

HERE = Path(__file__).resolve().parent
CYTOSCAPE = HERE / "node_modules" / "cytoscape" / "dist" / "cytoscape.min.js"
CHARTJS = HERE / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
SESSION_HOURS = 8
UNMASK_SHOWN_MINUTES = 10  # how long the page an unmask redirected to may show the number again on reload
# Reachable without a session: the login form and files that hold no data.
PUBLIC_PATHS = frozenset({"/login", "/static", "/vendor/cytoscape.min.js", "/vendor/chart.umd.min.js"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
log = logging.getLogger("fundflow.console")


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, API routes answer 401."""


class Forbidden(Exception):
    """Logged in, but this role may not do it, or the CSRF token is missing or wrong."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def current_user(request: Request) -> auth.User:
    """The user of a live server-side session (console.sessions); the cookie alone proves nothing."""
    if "user" in request.scope.get("state", {}):
        return request.state.user
    store = request.app.state.store
    name = sessions.user_of(store, request.session.get("sid"), request.app.state.settings.console_idle_minutes)
    user = users.active_user(store, name) if name and name == request.session.get("user") else None
    if user is None:
        request.session.clear()
        raise LoginRequired()
    request.state.user = user
    return user


async def csrf_guard(request: Request) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        field = (await request.form()).get("csrf_token")
        sent = field if isinstance(field, str) else None
    if not auth.csrf_valid(request.session, sent):
        raise Forbidden("表单已过期或来源不明，请刷新页面后重试 / missing or wrong CSRF token")


def flash(request: Request, kind: str, message: str) -> None:
    request.session.setdefault("flashes", []).append([kind, message])


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="fundflow console", docs_url=None, redoc_url=None, openapi_url=None)
    # What the routes read at each request, never captured when they are made: the home's case store and
    # settings, the key that signs cookies and node keys, and the audit chains' last check (console.auditlog).
    state = app.state
    state.store = CaseStore.open(settings)
    state.settings = settings
    state.secret = auth.session_secret(settings)
    state.checked_chains = {}

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters["yuan"] = lambda value: yuan(value, cents=True)
    environment.filters["pct"] = lambda value: f"{float(value or 0) * 100:.0f}%"
    environment.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M") if value else ""
    templates = Jinja2Templates(env=environment)

    def page(request: Request, template: str, user: auth.User | None, status_code: int = 200, **context) -> Response:
        context.update(
            user=user,
            csrf=auth.csrf_token(request.session),
            role_labels=ROLES,
            flashes=request.session.pop("flashes", []),
            downloads=[what for what in downloads.KINDS if user and auth.may_export(user.role, what)],
        )
        return templates.TemplateResponse(request, template, context, status_code=status_code)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "需要登录 / login required"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message}, status_code=403)
        return page(request, "error.html", None, 403, title="不允许的操作", message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def _bad_form(request: Request, exc: RequestValidationError) -> Response:
        """A missing or malformed field gets a Chinese message on the page it came from, never raw JSON."""
        fields = sorted({str(error["loc"][-1]) for error in exc.errors() if error.get("loc")})
        named = "、".join(FORM_FIELDS.get(field, field) for field in fields) or "表单"
        message = f"请填写或更正：{named} / missing or invalid: {', '.join(fields)}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=400)
        back = _page_of(request.url.path)
        if back and "user" in request.session:
            flash(request, "error", message)
            return RedirectResponse(back, status_code=303)
        return page(request, "error.html", None, 400, title="表单有误", message=message)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=404)
        return page(request, "error.html", None, 404, title="未找到", message=str(exc))

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith(("/static/", "/vendor/")):
            response.headers["Cache-Control"] = "no-store"
        return response

    # Added last so it runs first: every handler above sees request.session.
    app.add_middleware(
        SessionMiddleware,
        secret_key=state.secret,
        session_cookie="fundflow_session",
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        https_only=False,
    )

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/vendor/cytoscape.min.js", include_in_schema=False)
    def cytoscape_js() -> Response:
        if not CYTOSCAPE.exists():
            log.error("console/node_modules missing: run console/setup_browser.sh (or make console)")
            return Response("cytoscape missing: run console/setup_browser.sh", status_code=404)
        return FileResponse(CYTOSCAPE, media_type="text/javascript")

    @app.get("/vendor/chart.umd.min.js", include_in_schema=False)
    def chart_js() -> Response:
        if not CHARTJS.exists():
            log.error("chart.js missing from console/node_modules: run console/setup_browser.sh")
            return Response("chart.js missing: run console/setup_browser.sh", status_code=404)
        return FileResponse(CHARTJS, media_type="text/javascript")

    public = APIRouter(dependencies=[Depends(csrf_guard)])

    @public.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        return page(request, "login.html", None, next_url=_safe_next(next), name="", error="")

    @public.post("/login")
    def login(request: Request, name: str = Form(...), password: str = Form(...), next: str = Form("/")) -> Response:
        user, refusal, locked = users.try_login(state.store, name.strip(), password)
        if user is None:
            return page(
                request, "login.html", None, 429 if locked else 401, next_url=_safe_next(next), name=name, error=refusal
            )
        sessions.end(state.store, request.session.get("sid"), "login")
        request.session.clear()  # a fresh session (and CSRF token) on login: no session fixation
        request.session["user"] = user.name
        request.session["sid"] = sessions.start(state.store, user.name)
        auth.csrf_token(request.session)
        return RedirectResponse(_safe_next(next), status_code=303)

    pages = APIRouter(dependencies=[Depends(current_user), Depends(csrf_guard)])

    @pages.post("/logout")
    def logout(request: Request, user: auth.User = Depends(current_user)) -> Response:
        sessions.end(state.store, request.session.get("sid"), "logout")
        state.store.write_audit(user.name, "logout")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @pages.get("/search")
    def search_page(request: Request, q: str = "", user: auth.User = Depends(current_user)) -> Response:
        found = search.search(state.store, state.settings.warehouse_path, q[:100])
        if found["kind"]:
            shown = mask_account(search.normalise(q)) if found["kind"] == "number" else q.strip()[:100]
            state.store.write_audit(
                user.name, "search", detail={"query": shown, "kind": found["kind"], "leads": len(found["leads"])}
            )
        return page(request, "search.html", user, found=found)

    @pages.get("/account")
    def account_page(request: Request, user: auth.User = Depends(current_user)) -> Response:
        return page(request, "account.html", user, min_length=users.MIN_PASSWORD_LENGTH)

    @pages.post("/account/password")
    def change_password(
        request: Request,
        current: str = Form(""),
        new: str = Form(""),
        repeat: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        try:
            if new != repeat:
                raise FundflowError("两次输入的新密码不一致 / the two new passwords differ")
            users.change_own_password(state.store, user.name, current, new)
        except FundflowError as exc:
            flash(request, "error", str(exc))
            return RedirectResponse("/account", status_code=303)
        request.session.clear()
        flash(request, "ok", "密码已修改，请用新密码重新登录")
        return RedirectResponse("/login", status_code=303)

    @pages.get("/")
    def queue_page(
        request: Request,
        user: auth.User = Depends(current_user),
        status: str = "",
        priority: str = "",
        typology: str = "",
        sector: str = "",
        region: str = "",
        assignee: str = "",
        overdue: str = "",
        sort: str = "score",
        view: str = "",
        page_no: int = Query(1, alias="page", ge=1),
    ) -> Response:
        chosen = views.QueueFilter(
            status=status,
            priority=priority,
            typology=typology,
            sector=sector,
            region=region,
            assignee=assignee,
            overdue=bool(overdue),
            sort=sort,
            view=view if view in QUEUE_VIEWS else "",
        )
        rows = views.queue(state.store, chosen, user.name)
        pages_total = max(1, -(-len(rows) // views.QUEUE_PAGE_ROWS))
        page_no = min(page_no, pages_total)
        shown_rows = rows[(page_no - 1) * views.QUEUE_PAGE_ROWS : page_no * views.QUEUE_PAGE_ROWS]
        query = {key: value for key, value in request.query_params.items() if key != "page"}
        return page(
            request,
            "queue.html",
            user,
            rows=shown_rows,
            total=len(rows),
            page_no=page_no,
            pages_total=pages_total,
            page_query=urlencode(query),
            chosen=chosen,
            views_menu=list(QUEUE_VIEWS.items()),
            choices=views.queue_choices(state.store),
            ranking=current_ranking(state.settings),
        )

    def lead_response(
        request: Request, user: auth.User, lead_id: str, status_code: int = 200, unmasked: tuple[str, str] | None = None
    ) -> Response:
        lead = state.store.get_lead(lead_id)
        lead["earlier_events"] = parts.earlier_events(state.store, lead)
        shown = views.lead_page(lead, user.role, state.store.today())
        chosen, problem = payment_filter(request.query_params)
        try:
            page_no = max(1, int(request.query_params.get("tx_page") or 1))
        except ValueError:
            page_no = 1
        table = views.payments_page(lead, chosen, page_no)
        response = page(
            request,
            "lead.html",
            user,
            status_code,
            **shown,
            unmasked=unmasked,
            may_unmask=user.role in auth.CAN_UNMASK,
            unmask_choices=views.unmask_choices(lead, state.secret) if user.role in auth.CAN_UNMASK else [],
            workers=users.worker_names(state.store, user.role),
            split_choices=views.split_choices(lead, state.secret) if shown["may_work"] and shown["live"] else [],
            split_parts=range(1, views.SPLIT_PARTS + 1),
            dossier=user.role in auth.CAN_EXPORT,
            draft=request.session.pop("draft", None) or {},
            notes=views.notes_shown(lead),
            note_accounts=views.note_accounts(lead, state.secret),
            tx=table,
            tx_chosen=chosen,
            tx_problem=problem,
            tx_query=urlencode(payment_query(chosen)),
            tx_export=auth.may_export(user.role, "transactions"),
            tx_export_fields=[
                *payment_query(chosen).items(),
                ("tx_sort", chosen.sort),
                ("tx_desc", "1" if chosen.descending else ""),
            ],
        )
        # Who looked at which lead is audited (DOMAIN §4.3); written after the page is sent.
        response.background = BackgroundTask(state.store.write_audit, user.name, "view", target=lead_id)
        return response

    @pages.get("/leads/{lead_id}")
    def lead_view(
        request: Request, lead_id: str, shown: int | None = None, user: auth.User = Depends(current_user)
    ) -> Response:
        unmasked = None
        if shown is not None and user.role in auth.CAN_UNMASK:
            unmasked = views.unmasked_by_audit(
                state.store, state.secret, lead_id, user.name, shown, UNMASK_SHOWN_MINUTES
            )
        return lead_response(request, user, lead_id, unmasked=unmasked)

    def decided(request: Request, lead_id: str, action, done_message: str, typed: str = "") -> Response:
        """Run one decision; a refusal is flashed and the typed text kept for the same form (no retyping)."""
        try:
            action()
        except FundflowError as exc:
            flash(request, "error", str(exc))
            if typed.strip():
                request.session["draft"] = {"form": request.url.path, "text": typed[:5000]}
        else:
            flash(request, "ok", done_message)
        return RedirectResponse(f"/leads/{quote(lead_id)}", status_code=303)

    @pages.post("/leads/{lead_id}/assign")
    def assign(
        request: Request,
        lead_id: str,
        assignee: str = Form(...),
        note: str = Form(""),
        due: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        return decided(
            request,
            lead_id,
            lambda: lifecycle.assign(state.store, lead_id, assignee, user.name, note, parse_date(due, "期限")),
            f"已分配给 {assignee}",
            typed=note,
        )

    @pages.post("/leads/{lead_id}/move")
    def move(
        request: Request,
        lead_id: str,
        status: str = Form(...),
        note: str = Form(""),
        expected_status: str = Form(""),
        merge_into: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        return decided(
            request,
            lead_id,
            lambda: lifecycle.move(
                state.store,
                lead_id,
                status,
                user.name,
                note,
                merge_into=merge_into.strip() or None,
                expected_status=expected_status or None,
            ),
            f"已转为「{LEAD_STATUS.get(status, status)}」",
            typed=note,
        )

    @pages.post("/leads/{lead_id}/measures")
    def add_measure(
        request: Request,
        lead_id: str,
        kind: str = Form(...),
        due: str = Form(""),
        note: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        return decided(
            request,
            lead_id,
            lambda: lifecycle.add_measure(state.store, lead_id, kind, user.name, note, parse_date(due, "期限")),
            "已登记处置事项",
            typed=note,
        )

    @pages.post("/leads/{lead_id}/measures/{measure_id}/done")
    def complete_measure(
        request: Request,
        lead_id: str,
        measure_id: int,
        note: str = Form(""),
        transfer_no: str = Form(""),
        amount: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        def complete() -> None:
            try:
                value = float(amount) if amount.strip() else None
            except ValueError:
                raise LifecycleError(f"金额应为数字 / amount must be a number: '{amount}'") from None
            lifecycle.complete_measure(
                state.store, lead_id, measure_id, user.name, note, transfer_no=transfer_no.strip() or None, amount=value
            )

        return decided(request, lead_id, complete, f"处置事项 #{measure_id} 已完成销号", typed=note)

    @pages.post("/leads/{lead_id}/close/propose")
    def propose_close(
        request: Request, lead_id: str, note: str = Form(""), user: auth.User = Depends(current_user)
    ) -> Response:
        return decided(
            request,
            lead_id,
            lambda: lifecycle.propose_close(state.store, lead_id, user.name, note),
            "已提出销号，待另一人确认",
            typed=note,
        )

    @pages.post("/leads/{lead_id}/close/confirm")
    def confirm_close(
        request: Request, lead_id: str, note: str = Form(""), user: auth.User = Depends(current_user)
    ) -> Response:
        return decided(
            request,
            lead_id,
            lambda: lifecycle.confirm_close(state.store, lead_id, user.name, note),
            "已确认销号",
            typed=note,
        )

    @pages.post("/leads/{lead_id}/split")
    def split_lead(
        request: Request,
        lead_id: str,
        core: list[str] = Form([]),
        reason: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        from pipelines.cases import split  # publishing's code (and scikit-learn) loads on the first split

        try:
            cores = views.split_cores(state.store.get_lead(lead_id), state.secret, core)
            result = split.split_lead_in_home(state.store, lead_id, cores, user.name, reason)
        except FundflowError as exc:
            flash(request, "error", str(exc))
            if reason.strip():
                request.session["draft"] = {"form": request.url.path, "text": reason[:5000]}
        else:
            flash(request, "ok", f"已拆分为 {'、'.join(result.lead_ids)}")
        return RedirectResponse(f"/leads/{quote(lead_id)}", status_code=303)

    @pages.post("/leads/{lead_id}/notes")
    async def add_note(request: Request, lead_id: str, user: auth.User = Depends(current_user)) -> Response:
        form = await request.form()
        text = str(form.get("text") or "")
        key = str(form.get("account") or "")
        uploads = []
        for item in form.getlist("files"):
            if isinstance(item, StarletteUpload) and item.filename:
                uploads.append(notes.Upload(item.filename, await item.read(notes.MAX_FILE_BYTES + 1)))

        def record() -> None:
            lead = state.store.get_lead(lead_id)
            account_no = views.account_no_of(lead, state.secret, key) if key else None
            if key and account_no is None:
                raise FundflowError("该线索没有这个账户 / no such account on this lead")
            notes.add_note(state.store, state.settings, lead_id, user.name, text, account_no, tuple(uploads))

        return decided(request, lead_id, record, "备注已保存", typed=text)

    @pages.get("/leads/{lead_id}/attachments/{attachment_id}")
    def attachment(
        request: Request, lead_id: str, attachment_id: int, user: auth.User = Depends(current_user)
    ) -> Response:
        lead = state.store.get_lead(lead_id)
        found = next(
            (f for note in lead["notes"] for f in note["attachments"] if f["attachment_id"] == attachment_id), None
        )
        if found is None:
            raise NotFoundError(f"线索 {lead_id} 没有这个附件 / no such attachment")
        state.store.write_audit(user.name, "attachment_view", target=lead_id, file_sha256=found["sha256"])
        return FileResponse(
            notes.path_of(state.settings, found["sha256"]),
            media_type=found["media_type"],
            filename=found["filename"],
            content_disposition_type="attachment",
        )

    @pages.post("/leads/{lead_id}/unmask")
    def unmask(
        request: Request,
        lead_id: str,
        choice: str = Form(...),
        reason: str = Form(""),
        user: auth.User = Depends(current_user),
    ) -> Response:
        if user.role not in auth.CAN_UNMASK:
            state.store.write_audit(user.name, "unmask_refused", target=lead_id, detail={"choice": choice})
            raise Forbidden(f"「{ROLES[user.role]}」无权查看完整号码 / role {user.role} may not unmask")
        if not reason.strip():
            flash(request, "error", "查看完整号码须填写理由 / a reason is required")
            return RedirectResponse(f"/leads/{quote(lead_id)}", status_code=303)
        found = views.unmask_value(state.store.get_lead(lead_id), state.secret, choice)
        if found is None:
            raise NotFoundError(f"该线索没有这个号码 / no such number on lead {lead_id}")
        seq = state.store.write_audit(
            user.name, "unmask", target=lead_id, reason=reason.strip(), detail={"choice": choice, "what": found[0]}
        )
        # Redirect after POST: reloading the result page shows the audited value again, it does not unmask again.
        return RedirectResponse(f"/leads/{quote(lead_id)}?shown={seq}", status_code=303)

    @pages.get("/exports")
    def exports_page(request: Request, user: auth.User = Depends(current_user)) -> Response:
        if not any(auth.may_export(user.role, what) for what in downloads.KINDS):
            _may_export(user, "leads")
        return page(request, "exports.html", user, kinds=downloads.KINDS)

    @pages.post("/exports/{what}")
    async def export(request: Request, what: str, user: auth.User = Depends(current_user)) -> Response:
        _may_export(user, what)
        form = await request.form()
        lead_id, period = str(form.get("lead_id") or ""), str(form.get("period") or "")
        try:
            chosen, problem = payment_filter(form)
            if problem:
                raise FundflowError(problem)
            path = downloads.export(
                state.settings, what, user.name, lead_id=lead_id or None, period=period or None, payments=chosen
            )
        except FundflowError as exc:
            flash(request, "error", str(exc))
            return RedirectResponse(f"/leads/{quote(lead_id)}" if lead_id else "/exports", status_code=303)
        return FileResponse(path, filename=path.name)

    api = APIRouter(prefix="/api", dependencies=[Depends(current_user), Depends(csrf_guard)])

    @api.get("/leads")
    def api_queue(user: auth.User = Depends(current_user), status: str = "", sort: str = "score") -> dict:
        rows = views.queue(state.store, views.QueueFilter(status=status, sort=sort))
        return {
            "leads": [
                {
                    key: row[key]
                    for key in (
                        "lead_id",
                        "status",
                        "status_label",
                        "subject_name",
                        "score",
                        "total_in",
                        "participants",
                        "assignee",
                        "overdue",
                    )
                }
                for row in rows
            ]
        }

    @api.get("/leads/{lead_id}/graph")
    def api_graph(
        lead_id: str, start: str = "", end: str = "", expand: str = "", user: auth.User = Depends(current_user)
    ) -> dict:
        first, last = _api_date(start), _api_date(end)
        if first and last and first > last:
            raise HTTPException(400, f"开始日期 {first} 晚于结束日期 {last}，请调换 / the range is reversed")
        return views.graph(state.store.get_lead(lead_id), state.secret, first, last, bool(expand))

    @api.get("/leads/{lead_id}/edge")
    def api_edge(
        lead_id: str,
        source: str,
        target: str,
        start: str = "",
        end: str = "",
        user: auth.User = Depends(current_user),
    ) -> dict:
        return views.edge_payments(
            state.store.get_lead(lead_id), state.secret, source, target, _api_date(start), _api_date(end)
        )

    @api.get("/leads/{lead_id}/accounts/{key}")
    def api_account(
        lead_id: str, key: str, start: str = "", end: str = "", user: auth.User = Depends(current_user)
    ) -> dict:
        lead = state.store.get_lead(lead_id)
        found = views.account_detail(lead, state.secret, key, _api_date(start), _api_date(end))
        if found is None:
            raise NotFoundError(f"线索 {lead_id} 没有这个账户 / no such account on this lead")
        found["also_in"] = search.also_in(state.store, str(views.account_no_of(lead, state.secret, key)), lead_id)
        return found

    institutions.add_routes(pages, page, current_user, state)
    dashboard.add_routes(pages, page, current_user, state)
    auditlog.add_routes(pages, page, current_user, state, Forbidden)
    admin.add_routes(pages, page, current_user, state, flash, Forbidden)
    tip_pages.add_routes(pages, page, current_user, state, flash)
    app.include_router(public)
    app.include_router(pages)
    app.include_router(api)
    return app


def payment_filter(params) -> tuple[views.PaymentFilter, str]:
    """The 交易明细 table's filter from the lead page's query (or the export form): (filter, problem or "")."""
    problems = []

    def day(key: str, label: str) -> date | None:
        try:
            return parse_date(str(params.get(key) or "").strip(), label)
        except FundflowError as exc:
            problems.append(str(exc))
            return None

    def amount(key: str) -> float | None:
        text = str(params.get(key) or "").replace(",", "").strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            problems.append(f"金额应为数字 / amount must be a number: '{text[:20]}'")
            return None

    start, end = day("tx_start", "开始"), day("tx_end", "结束")
    if start and end and start > end:
        problems.append(f"开始日期 {start} 晚于结束日期 {end}，请调换 / the range is reversed")
        start = end = None
    flow = str(params.get("tx_flow") or "")
    chosen = views.PaymentFilter(
        start=start,
        end=end,
        min_amount=amount("tx_min"),
        max_amount=amount("tx_max"),
        flow=flow if flow in FLOW_KINDS else "",
        party=str(params.get("tx_party") or "").strip()[:40],
        sort=str(params.get("tx_sort") or "time") if params.get("tx_sort") in views.PAYMENT_SORTS else "time",
        descending=params.get("tx_desc") == "1",
    )
    return chosen, "；".join(problems)


def payment_query(chosen: views.PaymentFilter) -> dict:
    """The filter as query parameters (for sort links and paging), empty ones left out."""
    found = {
        "tx_start": chosen.start.isoformat() if chosen.start else "",
        "tx_end": chosen.end.isoformat() if chosen.end else "",
        "tx_min": "" if chosen.min_amount is None else f"{chosen.min_amount:g}",
        "tx_max": "" if chosen.max_amount is None else f"{chosen.max_amount:g}",
        "tx_flow": chosen.flow,
        "tx_party": chosen.party,
    }
    return {key: value for key, value in found.items() if value}


def _api_date(text: str) -> date | None:
    try:
        return parse_date(text)
    except FundflowError as exc:
        raise HTTPException(400, str(exc)) from None


def _page_of(path: str) -> str | None:
    """The page a form posted from, for sending the user back to it: a lead's page, or the page itself."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "leads":
        return f"/leads/{quote(parts[1])}"
    if parts[0] in ("admin", "account"):
        return "/" + parts[0] + ("/users" if parts[0] == "admin" else "")
    return None


def _safe_next(target: str) -> str:
    """Only same-site paths after login, so the login form cannot bounce a user to another site."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _may_export(user: auth.User, what: str) -> None:
    if not auth.may_export(user.role, what):
        title = EXPORT_TITLES.get(what, what)
        raise Forbidden(f"「{ROLES[user.role]}」不能导出{title} / role {user.role} may not export {what}")
