"""Who may use the console and what each role may do: passwords, sessions, CSRF, login throttling.

Passwords are argon2 hashes; the session is a signed cookie whose key lives in the home folder (mode 600);
every form carries the session's CSRF token. Five wrong passwords lock the account for a while.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipelines.settings import Settings

MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15

# What each role may do beyond reading the queue (DOMAIN §4.3). Lifecycle moves themselves are checked
# by pipelines.cases.lifecycle; these gate the console's own actions.
CAN_UNMASK = frozenset({"reviewer", "supervisor"})
CAN_DECIDE = frozenset({"analyst", "reviewer", "supervisor"})
CAN_ASSIGN_OTHERS = frozenset({"reviewer", "supervisor"})
CAN_EXPORT = frozenset({"analyst", "reviewer", "supervisor", "auditor"})
# Masked exports by kind. Lead-level files (names, masked numbers, payments) go only to those who work or audit
# leads (DOMAIN §4.2: used only for disposing of illegal fundraising, need to know); the administrator runs the
# office's accounts, not its cases, and gets only the campaign statistics it reports upward (masked like all).
EXPORT_ROLES = {
    "leads": CAN_EXPORT,
    "campaign": CAN_EXPORT | {"admin"},
    "dossier": CAN_EXPORT,
    "transactions": CAN_EXPORT,
}


def may_export(role: str, what: str) -> bool:
    return role in EXPORT_ROLES.get(what, frozenset())


_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    name: str
    role: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def locked_for(locked_until: datetime | None, now: datetime) -> timedelta | None:
    """Time left on a login lock, or None when the user may try."""
    if locked_until is not None and locked_until > now:
        return locked_until - now
    return None


def after_failure(failed_logins: int, now: datetime) -> tuple[int, datetime | None]:
    """New (failed_logins, locked_until) after one more wrong password."""
    failed = failed_logins + 1
    if failed >= MAX_FAILED_LOGINS:
        return failed, now + timedelta(minutes=LOCK_MINUTES)
    return failed, None


SESSION_KEY_FILE = "console_secret.key"


def session_secret(settings: Settings) -> str:
    """The cookie-signing key, created on first run under the home folder, readable only by its owner."""
    path: Path = settings.home / SESSION_KEY_FILE
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def csrf_token(session: dict) -> str:
    """The session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_valid(session: dict, sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(expected), str(sent))
