"""The administrator's 用户管理 page: list users, add one, disable or enable, change a role, set a new password.
Each change goes through `console.users` (audited; disabling, a role change and a new password end the user's
sessions). An administrator cannot disable or demote themselves, so the office is never left without one."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import State

from console import users
from pipelines.errors import FundflowError
from pipelines.vocabulary import ROLES


def add_routes(
    pages: APIRouter,
    page: Callable[..., Response],
    current_user: Callable,
    state: State,
    flash: Callable,
    refuse: Callable[[str], Exception],
) -> None:
    def admin_only(user) -> None:
        if user.role != "admin":
            raise refuse("只有管理员可以管理用户 / only the administrator manages users")

    def done(request: Request, action: Callable[[], None], message: str) -> Response:
        try:
            action()
        except FundflowError as exc:
            flash(request, "error", str(exc))
        else:
            flash(request, "ok", message)
        return RedirectResponse("/admin/users", status_code=303)

    def not_self(user, name: str, message: str) -> None:
        if name == user.name:
            raise FundflowError(message)

    @pages.get("/admin/users")
    def users_page(request: Request, user=Depends(current_user)) -> Response:
        admin_only(user)
        listed = [
            dict(row, role_label=ROLES.get(row["role"], row["role"]), locked=bool(row["locked_until"]))
            for row in users.list_users(state.store)
        ]
        return page(
            request,
            "users.html",
            user,
            listed=listed,
            roles=list(ROLES.items()),
            min_length=users.MIN_PASSWORD_LENGTH,
        )

    @pages.post("/admin/users")
    def create(
        request: Request,
        name: str = Form(...),
        role: str = Form(...),
        password: str = Form(...),
        user=Depends(current_user),
    ) -> Response:
        admin_only(user)
        return done(
            request,
            lambda: users.add_user(state.store, name, role, password, by=user.name),
            f"已新增用户 {name.strip()}（{ROLES.get(role, role)}）",
        )

    @pages.post("/admin/users/{name}/disable")
    def disable(request: Request, name: str, user=Depends(current_user)) -> Response:
        admin_only(user)

        def run() -> None:
            not_self(user, name, "不能停用自己的账号 / you cannot disable yourself")
            users.disable_user(state.store, name, by=user.name)

        return done(request, run, f"已停用 {name}，其登录已全部结束")

    @pages.post("/admin/users/{name}/enable")
    def enable(request: Request, name: str, user=Depends(current_user)) -> Response:
        admin_only(user)
        return done(request, lambda: users.enable_user(state.store, name, by=user.name), f"已启用 {name}")

    @pages.post("/admin/users/{name}/role")
    def change_role(request: Request, name: str, role: str = Form(...), user=Depends(current_user)) -> Response:
        admin_only(user)

        def run() -> None:
            not_self(user, name, "不能变更自己的角色 / you cannot change your own role")
            users.set_role(state.store, name, role, by=user.name)

        return done(request, run, f"{name} 的角色已改为「{ROLES.get(role, role)}」，其登录已全部结束")

    @pages.post("/admin/users/{name}/password")
    def reset_password(request: Request, name: str, password: str = Form(...), user=Depends(current_user)) -> Response:
        admin_only(user)
        return done(
            request,
            lambda: users.set_password(state.store, name, password, by=user.name),
            f"已为 {name} 设置新密码，其登录已全部结束",
        )
