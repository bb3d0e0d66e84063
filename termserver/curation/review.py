"""Review: four eyes on every change, comments, and conflicts between approved changes.

The approver of a change is never its author. Two approved changes that edit the same field of
the same target (or one edits the whole target) conflict: both are flagged, and a release is
refused until an approver rejects one of them, so nobody's edit is silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from termserver.curation.auth import Forbidden, User
from termserver.curation.changes import (
    APPROVED,
    REJECTED,
    Change,
    ChangeError,
    Problem,
    check_transition,
    get_change,
    update_change,
)
from termserver.curation.store import Tx, utcnow

MAX_COMMENT = 4000


@dataclass(frozen=True)
class Comment:
    """A remark on a change."""

    id: int
    change_id: int
    author: str
    body: str
    created_at: str


def check_four_eyes(change: Change, approver: User, editors: frozenset[str] = frozenset()) -> None:
    """Refuse when the approver wrote the change, or rewrote it (``editors``: who edited it)."""
    if change.author == approver.name:
        raise Forbidden(
            f"{approver.name} har selv skrevet ændring #{change.id}; en anden skal godkende den"
        )
    if approver.name in editors:
        raise Forbidden(
            f"{approver.name} har selv rettet ændring #{change.id}; en anden skal godkende den"
        )


def editors_of(tx: Tx, change_id: int) -> frozenset[str]:
    """Everyone who edited a change's content after its author created it. An admin may edit
    another's draft; without this they could then approve their own words (finding F1 in
    docs/security-review.md). The audit log is the record: append-only and written in the same
    transaction as every edit."""
    rows = tx.all(
        "SELECT DISTINCT actor FROM audit_log WHERE object_type = ? AND object_id = ?"
        " AND action = ?",
        ("change", str(change_id), "change.edit"),
    )
    return frozenset(r["actor"] for r in rows)


def overlaps(a: Change, b: Change) -> bool:
    """True when two changes edit the same thing (same target, same field or the whole)."""
    return a.target == b.target and (a.field == b.field or "*" in (a.field, b.field))


def conflicting_approved(tx: Tx, change: Change) -> list[Change]:
    """Other approved, unpublished changes that overlap ``change``."""
    rows = tx.all(
        "SELECT id FROM changes WHERE target = ? AND status = ? AND id <> ?",
        (change.target, APPROVED, change.id),
    )
    found = [get_change(tx, int(r["id"])) for r in rows]
    return [c for c in found if c is not None and overlaps(c, change)]


def approve(
    tx: Tx, change: Change, approver: User, version: int, note: str | None
) -> Change | None:
    """Approve a proposed change and flag conflicts; None if the record moved on (412)."""
    check_transition(change, APPROVED)
    check_four_eyes(change, approver, editors_of(tx, change.id))
    others = conflicting_approved(tx, change)
    approved = update_change(
        tx,
        change,
        version,
        status=APPROVED,
        decided_by=approver.id,
        decided_at=utcnow(),
        decision_note=note,
        conflicts=sorted({*change.conflicts, *(o.id for o in others)}),
    )
    if approved is None:
        return None
    for other in others:
        # The other record's version is read fresh inside this transaction, so this cannot race.
        update_change(tx, other, other.version, conflicts=sorted({*other.conflicts, change.id}))
    return approved


def reject(tx: Tx, change: Change, approver: User, version: int, note: str | None) -> Change | None:
    """Reject a proposed (or approved, conflicting) change; clears it from others' conflicts."""
    check_transition(change, REJECTED)
    check_four_eyes(change, approver)
    rejected = update_change(
        tx,
        change,
        version,
        status=REJECTED,
        decided_by=approver.id,
        decided_at=utcnow(),
        decision_note=note,
        conflicts=[],
    )
    if rejected is None:
        return None
    for other_id in change.conflicts:
        other = get_change(tx, other_id)
        if other is not None and change.id in other.conflicts:
            update_change(
                tx, other, other.version, conflicts=[c for c in other.conflicts if c != change.id]
            )
    return rejected


def add_comment(tx: Tx, change: Change, author: User, body: str) -> Comment:
    """Add a comment to a change."""
    if not body or not body.strip():
        raise ChangeError([Problem("body", "en kommentar kan ikke være tom")])
    if len(body) > MAX_COMMENT:
        raise ChangeError([Problem("body", f"højst {MAX_COMMENT} tegn")])
    now = utcnow()
    cid = tx.insert(
        "INSERT INTO comments (change_id, author_id, body, created_at) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (change.id, author.id, body.strip(), now),
    )
    return Comment(cid, change.id, author.name, body.strip(), now)


def comments(tx: Tx, change_id: int) -> list[Comment]:
    """The comments on a change, oldest first."""
    rows = tx.all(
        "SELECT c.*, u.name AS author_name FROM comments c JOIN users u ON u.id = c.author_id"
        " WHERE c.change_id = ? ORDER BY c.id",
        (change_id,),
    )
    return [
        Comment(int(r["id"]), int(r["change_id"]), r["author_name"], r["body"], r["created_at"])
        for r in rows
    ]
