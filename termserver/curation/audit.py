"""The audit log: who did what, to which object, when and from where. Append-only.

Every write in the curation engine records an entry in the same transaction as the write itself,
so a change without its audit entry (or the reverse) cannot exist. The database refuses UPDATE and
DELETE on the table (a trigger, see migration 002), so not even a bug here can rewrite history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from termserver.curation.store import Tx, utcnow

MAX_LIMIT = 1000


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action."""

    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    client: str | None
    detail: dict[str, Any]


def record(
    tx: Tx,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    client: str | None = None,
    **detail: Any,
) -> None:
    """Append one entry (inside the caller's transaction)."""
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, object_type, object_id, client, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            utcnow(),
            actor,
            action,
            object_type,
            str(object_id),
            client,
            json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
        ),
    )


def query(
    tx: Tx,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Entries matching every given filter, oldest first. ``since``/``until`` are ISO times or
    dates (``2024-05-30`` means from the start of that day; ``until`` is exclusive)."""
    where, params = [], []
    for column, value in (
        ("actor", actor),
        ("action", action),
        ("object_type", object_type),
        ("object_id", object_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at < ?")
        params.append(until)
    sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id LIMIT ? OFFSET ?"
    rows = tx.all(sql, (*params, max(1, min(limit, MAX_LIMIT)), max(0, offset)))
    return [
        AuditEntry(
            id=int(r["id"]),
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            object_type=r["object_type"],
            object_id=r["object_id"],
            client=r["client"],
            detail=json.loads(r["detail"]),
        )
        for r in rows
    ]
