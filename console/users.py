"""Console users: `fundflow users add|passwd|disable|list`, and the login bookkeeping the console needs.

Users live in the case store's `users` table; every change is written to its audit log.
"""

from __future__ import annotations

import sqlalchemy as sa

from console import auth
from pipelines.cases import lifecycle
from pipelines.cases.store import CaseStore, users
from pipelines.errors import FundflowError, NotFoundError

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
    """New password; also lifts a login lock."""
    check_password_strength(password)
    with store.write() as conn:
        store.get_user(name, conn)
        conn.execute(
            users.update()
            .where(users.c.name == name)
            .values(password_hash=auth.hash_password(password), failed_logins=0, locked_until=None)
        )
        store.append_audit(conn, by, "user_passwd", target=name)


def disable_user(store: CaseStore, name: str, by: str = "admin") -> None:
    with store.write() as conn:
        store.get_user(name, conn)
        conn.execute(users.update().where(users.c.name == name).values(disabled=True))
        store.append_audit(conn, by, "user_disable", target=name)


def list_users(store: CaseStore) -> list[dict]:
    with store.read() as conn:
        return [dict(row) for row in conn.execute(sa.select(users).order_by(users.c.name)).mappings()]


def worker_names(store: CaseStore) -> list[str]:
    """Users a lead can be given to (active analysts, reviewers and supervisors)."""
    query = (
        sa.select(users.c.name)
        .where(users.c.role.in_(lifecycle.WORKERS))
        .where(users.c.disabled.is_(False))
        .order_by(users.c.name)
    )
    with store.read() as conn:
        return [row.name for row in conn.execute(query)]


def active_user(store: CaseStore, name: str) -> auth.User | None:
    """The user behind a session, or None when they no longer exist or were disabled."""
    try:
        row = store.get_user(name)
    except NotFoundError:
        return None
    return None if row["disabled"] else auth.User(row["name"], row["role"])


def try_login(store: CaseStore, name: str, password: str) -> tuple[auth.User | None, str, bool]:
    """Check a password and record the outcome: (user, "", False), or (None, message for the login page, locked)."""
    refused = "用户名或密码错误 / wrong user name or password"
    now = store.now()
    try:
        row = store.get_user(name)
    except NotFoundError:
        auth.password_matches(None, password)  # same cost as a known name, so names cannot be probed by timing
        return None, refused, False
    wait = auth.locked_for(row["locked_until"], now)
    if wait is not None:
        minutes = int(wait.total_seconds() // 60) + 1
        return None, f"密码错误次数过多，请 {minutes} 分钟后再试 / too many wrong passwords, try again later", True
    if row["disabled"] or not auth.password_matches(row["password_hash"], password):
        failed, locked_until = auth.after_failure(row["failed_logins"] or 0, now)
        with store.write() as conn:
            conn.execute(
                users.update()
                .where(users.c.name == row["name"])
                .values(failed_logins=failed, locked_until=locked_until)
            )
            store.append_audit(conn, row["name"], "login_failed", detail={"failed_logins": failed})
        return None, refused, False
    with store.write() as conn:
        conn.execute(users.update().where(users.c.name == row["name"]).values(failed_logins=0, locked_until=None))
        store.append_audit(conn, row["name"], "login")
    return auth.User(row["name"], row["role"]), "", False
