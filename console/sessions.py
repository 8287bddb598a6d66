"""Server-side console sessions: the signed cookie carries only a random session id; the case store's `sessions`
table says whether it is still good. Logout, a password change, disabling the user and an idle timeout end it,
so a cookie copied before any of those is refused afterwards.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines.cases.store import CaseStore, sessions

# last_seen is written at most this often, so reading pages does not turn every request into a write.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(store: CaseStore, user: str) -> str:
    """A new session for `user`; returns the id to put in the cookie."""
    session_id = secrets.token_urlsafe(32)
    now = store.now()
    with store.write() as conn:
        conn.execute(sessions.insert().values(token_hash=_hash(session_id), user=user, created_at=now, last_seen=now))
    return session_id


def user_of(store: CaseStore, session_id: str | None, idle_minutes: int) -> str | None:
    """The user of a live session, or None when it is unknown, ended, or idle too long (then it is ended)."""
    if not session_id:
        return None
    token_hash = _hash(session_id)
    with store.read() as conn:
        row = conn.execute(sa.select(sessions).where(sessions.c.token_hash == token_hash)).mappings().first()
    if row is None or row["ended_at"] is not None:
        return None
    now = store.now()
    if now - row["last_seen"] > timedelta(minutes=idle_minutes):
        end(store, session_id, "idle")
        return None
    if now - row["last_seen"] > TOUCH_EVERY:
        with store.write() as conn:
            conn.execute(sessions.update().where(sessions.c.token_hash == token_hash).values(last_seen=now))
    return row["user"]


def end(store: CaseStore, session_id: str | None, reason: str) -> None:
    if not session_id:
        return
    with store.write() as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.token_hash == _hash(session_id), sessions.c.ended_at.is_(None))
            .values(ended_at=store.now(), end_reason=reason)
        )


def end_all(store: CaseStore, conn: Connection, user: str, reason: str) -> int:
    """End every live session of `user` inside the caller's transaction; returns how many were ended."""
    result = conn.execute(
        sessions.update()
        .where(sessions.c.user == user, sessions.c.ended_at.is_(None))
        .values(ended_at=store.now(), end_reason=reason)
    )
    return result.rowcount or 0
