"""Console users: `fundflow users add|passwd|disable|list`, and the login bookkeeping the console needs.

Users live in the case store's `users` table; every change is written to its audit log.
"""

from __future__ import annotations

import sqlalchemy as sa

from console import auth, sessions
from pipelines.cases import lifecycle
from pipelines.cases.store import CaseStore, login_throttle, users
from pipelines.errors import FundflowError, NotFoundError
from pipelines.vocabulary import ROLES

MIN_PASSWORD_LENGTH = 10


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FundflowError(
            f"密码至少 {MIN_PASSWORD_LENGTH} 位 / password needs at least {MIN_PASSWORD_LENGTH} characters"
        )


def add_user(store: CaseStore, name: str, role: str, password: str, by: str = "admin") -> None:
    if not name or not name.strip() or len(name) > 64:
        raise FundflowError("用户名不能为空且不超过 64 字 / user name must be 1–64 characters")
    check_password_strength(password)
    store.add_user(name.strip(), role, auth.hash_password(password), by=by)


def set_password(store: CaseStore, name: str, password: str, by: str = "admin") -> None:
    """New password; also lifts a login lock and ends every session the user had open."""
    check_password_strength(password)
    with store.write() as conn:
        store.get_user(name, conn)
        conn.execute(
            users.update()
            .where(users.c.name == name)
            .values(password_hash=auth.hash_password(password), failed_logins=0, locked_until=None)
        )
        ended = sessions.end_all(store, conn, name, "password")
        store.append_audit(conn, by, "user_passwd", target=name, detail={"sessions_ended": ended})


def change_own_password(store: CaseStore, name: str, current: str, new: str) -> None:
    """A user's own password change: the current password must match; every session ends (log in again)."""
    if not auth.password_matches(store.get_user(name)["password_hash"], current):
        raise FundflowError("当前密码不正确 / the current password is wrong")
    set_password(store, name, new, by=name)


def disable_user(store: CaseStore, name: str, by: str = "admin") -> None:
    with store.write() as conn:
        store.get_user(name, conn)
        conn.execute(users.update().where(users.c.name == name).values(disabled=True))
        ended = sessions.end_all(store, conn, name, "disabled")
        store.append_audit(conn, by, "user_disable", target=name, detail={"sessions_ended": ended})


def enable_user(store: CaseStore, name: str, by: str = "admin") -> None:
    with store.write() as conn:
        store.get_user(name, conn)
        conn.execute(users.update().where(users.c.name == name).values(disabled=False))
        store.append_audit(conn, by, "user_enable", target=name)


def set_role(store: CaseStore, name: str, role: str, by: str = "admin") -> None:
    """A new role; the user's sessions end so no page keeps the old role's rights."""
    if role not in ROLES:
        raise FundflowError(f"未知角色 / unknown role '{role}'")
    with store.write() as conn:
        old = store.get_user(name, conn)["role"]
        conn.execute(users.update().where(users.c.name == name).values(role=role))
        sessions.end_all(store, conn, name, "role")
        store.append_audit(conn, by, "user_role", target=name, detail={"from": old, "to": role})


def list_users(store: CaseStore) -> list[dict]:
    with store.read() as conn:
        return [dict(row) for row in conn.execute(sa.select(users).order_by(users.c.name)).mappings()]


def worker_names(store: CaseStore, by_role: str) -> list[str]:
    """Users someone of `by_role` can give a lead to (active workers of that rank or below)."""
    query = (
        sa.select(users.c.name, users.c.role)
        .where(users.c.role.in_(lifecycle.WORKERS))
        .where(users.c.disabled.is_(False))
        .order_by(users.c.name)
    )
    with store.read() as conn:
        return [row.name for row in conn.execute(query) if lifecycle.may_assign_to(by_role, row.role)]


def active_user(store: CaseStore, name: str) -> auth.User | None:
    """The user behind a session, or None when they no longer exist or were disabled."""
    try:
        row = store.get_user(name)
    except NotFoundError:
        return None
    return None if row["disabled"] else auth.User(row["name"], row["role"])


def try_login(store: CaseStore, name: str, password: str) -> tuple[auth.User | None, str, bool]:
    """Check a password and record the outcome: (user, "", False), or (None, message for the login page, locked).

    Known and unknown names are counted and locked alike, so neither the answer nor its cost tells who has an
    account.
    """
    refused = "用户名或密码错误 / wrong user name or password"
    now = store.now()
    name = name[:64]
    try:
        row: dict | None = store.get_user(name)
    except NotFoundError:
        row = None
    with store.read() as conn:
        counted = conn.execute(sa.select(login_throttle).where(login_throttle.c.name == name)).mappings().first()
    failed_before, locked_until = (
        (row["failed_logins"] or 0, row["locked_until"])
        if row is not None
        else ((counted["failed_logins"], counted["locked_until"]) if counted else (0, None))
    )
    wait = auth.locked_for(locked_until, now)
    if wait is not None:
        minutes = int(wait.total_seconds() // 60) + 1
        return None, f"密码错误次数过多，请 {minutes} 分钟后再试 / too many wrong passwords, try again later", True
    password_ok = auth.password_matches(row["password_hash"] if row else None, password)
    if row is None or row["disabled"] or not password_ok:
        failed, locked_until = auth.after_failure(failed_before, now)
        with store.write() as conn:
            if row is not None:
                conn.execute(
                    users.update()
                    .where(users.c.name == row["name"])
                    .values(failed_logins=failed, locked_until=locked_until)
                )
            elif counted is None:
                conn.execute(login_throttle.insert().values(name=name, failed_logins=failed, locked_until=locked_until))
            else:
                conn.execute(
                    login_throttle.update()
                    .where(login_throttle.c.name == name)
                    .values(failed_logins=failed, locked_until=locked_until)
                )
            store.append_audit(conn, name, "login_failed", detail={"failed_logins": failed, "known": row is not None})
        return None, refused, False
    with store.write() as conn:
        conn.execute(users.update().where(users.c.name == row["name"]).values(failed_logins=0, locked_until=None))
        store.append_audit(conn, row["name"], "login")
    return auth.User(row["name"], row["role"]), "", False
