"""Who may do what: users with roles, API tokens and browser sessions with CSRF tokens.

Roles are ordered: reader < editor < approver < admin; each includes the ones before it.
Secrets are 32 random bytes; the database keeps only their SHA-256, so a leaked database gives no
usable token. A token is shown once, when it is made. There is no default user and no password:
the first admin comes from ``termserver user add NAME --role admin`` on the server's machine.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from termserver.curation.store import IntegrityError, Tx, utcnow
from termserver.errors import TermserverError

READER = "reader"
EDITOR = "editor"
APPROVER = "approver"
ADMIN = "admin"
ROLES = (READER, EDITOR, APPROVER, ADMIN)
TOKEN_PREFIX = "tsk_"
SESSION_HOURS = 8
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class AuthError(TermserverError):
    """No valid credentials (401)."""


class Forbidden(TermserverError):
    """Valid credentials, but the role or rule does not allow the action (403)."""


class UserError(TermserverError):
    """A bad user name, role or duplicate (400/409)."""


@dataclass(frozen=True)
class User:
    """A curator and their role."""

    id: int
    name: str
    role: str
    created_at: str
    disabled: bool = False

    def can(self, role: str) -> bool:
        """True if this user's role includes ``role``."""
        return not self.disabled and ROLES.index(self.role) >= ROLES.index(role)


def require(user: User | None, role: str) -> User:
    """The user, if signed in with at least ``role``; else :class:`AuthError`/:class:`Forbidden`."""
    if user is None:
        raise AuthError("log ind med et API-token (Authorization: Bearer ...)")
    if not user.can(role):
        raise Forbidden(f"{user.name} har rollen {user.role}; handlingen kræver {role}")
    return user


def hash_secret(secret: str) -> str:
    """The stored form of a token or session id."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh token: a prefix (so it is recognisable in logs and scanners) and 32 random bytes."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _user(row: dict) -> User:
    return User(
        id=int(row["id"]),
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        disabled=bool(row["disabled"]),
    )


def add_user(tx: Tx, name: str, role: str, created_by: str) -> tuple[User, str]:
    """Create a user and their first API token; returns the user and the token (shown once)."""
    if not _NAME.match(name or ""):
        raise UserError(
            f"ugyldigt brugernavn {name!r}: små bogstaver, tal og . _ @ -, højst 64 tegn"
        )
    if role not in ROLES:
        raise UserError(f"ukendt rolle {role!r}; vælg en af {', '.join(ROLES)}")
    try:
        uid = tx.insert(
            "INSERT INTO users (name, role, created_at, created_by) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            (name, role, utcnow(), created_by),
        )
    except IntegrityError:
        raise UserError(f"brugeren {name!r} findes allerede") from None
    token = issue_token(tx, uid, "første token")
    user = get_user(tx, name)
    assert user is not None
    return user, token


def get_user(tx: Tx, name: str) -> User | None:
    """A user by name."""
    row = tx.one("SELECT * FROM users WHERE name = ?", (name,))
    return _user(row) if row else None


def list_users(tx: Tx) -> list[User]:
    """Every user, by name."""
    return [_user(r) for r in tx.all("SELECT * FROM users ORDER BY name")]


def set_role(tx: Tx, name: str, role: str | None = None, disabled: bool | None = None) -> User:
    """Change a user's role or disable them (a disabled user's tokens stop working)."""
    user = get_user(tx, name)
    if user is None:
        raise UserError(f"ukendt bruger {name!r}")
    if role is not None and role not in ROLES:
        raise UserError(f"ukendt rolle {role!r}; vælg en af {', '.join(ROLES)}")
    tx.execute(
        "UPDATE users SET role = ?, disabled = ?, version = version + 1 WHERE id = ?",
        (
            role or user.role,
            int(user.disabled if disabled is None else disabled),
            user.id,
        ),
    )
    updated = get_user(tx, name)
    assert updated is not None
    return updated


def issue_token(tx: Tx, user_id: int, label: str | None = None) -> str:
    """A new API token for a user; only its hash is stored."""
    token = new_secret()
    tx.execute(
        "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
        (user_id, hash_secret(token), label, utcnow()),
    )
    return token


@dataclass(frozen=True)
class TokenInfo:
    """What is kept about an API token: never the token itself, only when and why it was made."""

    id: int
    label: str | None
    created_at: str
    revoked_at: str | None


def tokens_of(tx: Tx, user_id: int) -> list[TokenInfo]:
    """A user's tokens, oldest first (revoked ones included, with when)."""
    rows = tx.all(
        "SELECT id, label, created_at, revoked_at FROM api_tokens WHERE user_id = ? ORDER BY id",
        (user_id,),
    )
    return [TokenInfo(int(r["id"]), r["label"], r["created_at"], r["revoked_at"]) for r in rows]


def revoke_token(tx: Tx, user_id: int, token_id: int) -> bool:
    """Revoke one of a user's tokens; False if the user has no such token not yet revoked."""
    return (
        tx.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ?"
            " AND revoked_at IS NULL",
            (utcnow(), token_id, user_id),
        )
        == 1
    )


def revoke_tokens(tx: Tx, user_id: int) -> int:
    """Revoke every token of a user; returns how many."""
    return tx.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        (utcnow(), user_id),
    )


def user_for_token(tx: Tx, token: str) -> User | None:
    """The user a presented API token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    digest = hash_secret(token)
    row = tx.one(
        "SELECT u.*, t.token_hash FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        (digest,),
    )
    # The index lookup already matched; compare_digest keeps the final check constant-time.
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        return None
    user = _user(row)
    return None if user.disabled else user


# --- browser sessions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the cookie value and the CSRF token its forms must echo."""

    session_id: str
    csrf_token: str
    expires_at: str


def start_session(tx: Tx, user: User, hours: int = SESSION_HOURS) -> Session:
    """Open a session for ``user`` (after they proved who they are with a token)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    tx.execute(
        "INSERT INTO sessions (user_id, session_hash, csrf_hash, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (user.id, hash_secret(sid), hash_secret(csrf), utcnow(), expires),
    )
    return Session(sid, csrf, expires)


def user_for_session(tx: Tx, session_id: str, csrf_token: str | None, *, unsafe: bool) -> User:
    """The user of a session cookie. ``unsafe`` requests (POST, PATCH, DELETE) must also carry
    the session's CSRF token in a header, which another site cannot read or forge."""
    row = tx.one(
        "SELECT u.*, s.csrf_hash, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.session_hash = ?",
        (hash_secret(session_id or ""),),
    )
    if row is None or row["expires_at"] < utcnow():
        raise AuthError("sessionen er ukendt eller udløbet; log ind igen")
    if unsafe and not hmac.compare_digest(row["csrf_hash"], hash_secret(csrf_token or "")):
        raise Forbidden("CSRF-token mangler eller er forkert (X-CSRF-Token)")
    user = _user(row)
    if user.disabled:
        raise AuthError(f"brugeren {user.name} er deaktiveret")
    return user


def end_session(tx: Tx, session_id: str) -> None:
    """Sign out: the session stops working at once."""
    tx.execute("DELETE FROM sessions WHERE session_hash = ?", (hash_secret(session_id),))
