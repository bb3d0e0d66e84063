"""The curation engine as one object: the API and the CLI call this and nothing below it.

Every write checks the caller's role, runs in one database transaction together with its audit
entry, and names the record version it expects (optimistic concurrency: a stale version is a
:class:`VersionConflict`, answered 412 with the current record, and nothing is overwritten).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from termserver.curation import audit, auth, review
from termserver.curation.auth import ADMIN, APPROVER, EDITOR, READER, User, require
from termserver.curation.changes import (
    APPROVED,
    DRAFT,
    KINDS,
    PROPOSED,
    PUBLISHED,
    Change,
    ChangeError,
    Problem,
    check_shape,
    check_transition,
    get_change,
    insert_change,
    list_changes,
    open_changes_on,
    update_change,
)
from termserver.curation.releases import DataDir, ReleaseError, ReleaseInfo, Stage
from termserver.curation.store import Store, open_store, utcnow
from termserver.curation.workspace import Workspace
from termserver.errors import TermserverError

log = logging.getLogger("termserver.curation")
#: Kinds that edit something that already exists: creating one must name its current ETag.
NEEDS_IF_MATCH = frozenset(k for k in KINDS if k not in ("concept.add", "mapping.add"))


class NotFound(TermserverError):
    """No such change, user or release (404)."""


class PreconditionRequired(TermserverError):
    """An edit without ``If-Match`` (428)."""


class VersionConflict(TermserverError):
    """The record changed since the caller read it (412); ``etag``/``current`` say how it is now."""

    def __init__(self, message: str, etag: str, current: Any) -> None:
        super().__init__(message)
        self.etag = etag
        self.current = current


class PublishBlocked(TermserverError):
    """Approved changes conflict, or there is nothing to publish (409)."""


@dataclass(frozen=True)
class TargetState:
    """What a change target looks like now: its value in the current release and the open
    changes on it. ``etag`` covers both, so a new change on it made by someone else shows."""

    key: str
    current: dict[str, Any] | None
    open_changes: list[Change]
    etag: str


class Curation:
    """Changes, review, releases, users and the audit log over one data directory."""

    def __init__(self, data: DataDir, store: Store, *, open_reads: bool = True) -> None:
        self.data = data
        self.store = store
        self.open_reads = open_reads
        self.holder: Any = None
        self._snapshot: Any = None
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def open(
        cls,
        data_dir: Path,
        database_url: str | None = None,
        *,
        ontology: Path | None = None,
        mappings: Path | None = None,
        open_reads: bool = True,
    ) -> Curation:
        """Open (and on first use create and seed) a data directory and its database."""
        from termserver.content import ontology_dir
        from termserver.mappings import mappings_dir

        data = DataDir(data_dir)
        data.root.mkdir(parents=True, exist_ok=True)
        with _file_lock(data.root / ".publish.lock"):
            removed = data.recover()
            if removed:
                log.warning("removed what an interrupted publish left: %s", ", ".join(removed))
            if not data.exists():
                data.seed(ontology or ontology_dir(), mappings or mappings_dir())
        store = open_store(database_url, data.root)
        cur = cls(data, store, open_reads=open_reads)
        cur.reconcile()
        return cur

    def close(self) -> None:
        """Stop watching and close the database connections."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self.store.close()

    # --- the served snapshot --------------------------------------------------------------------

    def attach(self, holder: Any) -> None:
        """Serve releases through ``holder``: publishing swaps the new snapshot into it."""
        self.holder = holder

    def snapshot(self) -> Any:
        """The current release's snapshot (the served one when attached)."""
        if self.holder is not None:
            return self.holder.current
        if self._snapshot is None or self._snapshot.release != self.data.current_name():
            self._snapshot = self.data.load(self.data.current())
        return self._snapshot

    def _install(self, snapshot: Any) -> None:
        if self.holder is not None:
            self.holder.swap(snapshot)
        self._snapshot = snapshot

    def refresh(self) -> bool:
        """Load the current release if another process published it; True if it swapped."""
        name = self.data.current_name()
        held = self.holder.current if self.holder is not None else self._snapshot
        if held is not None and held.release == name:
            return False
        self._install(self.data.load(self.data.current()))
        return True

    def watch(self, interval: float = 2.0) -> None:
        """Poll the ``current`` pointer so replicas sharing the data directory follow releases
        published elsewhere, without a restart."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except (OSError, TermserverError) as exc:
                    log.warning("could not load the current release: %s", exc)

        self._watcher = threading.Thread(target=loop, name="curation-watch", daemon=True)
        self._watcher.start()

    def reconcile(self) -> None:
        """Make the database agree with the release directories after a crash between the
        ``current`` flip and the database commit: the files are the truth."""
        with self.store.transaction() as tx:
            known = {r["name"] for r in tx.all("SELECT name FROM releases")}
            for info in self.data.releases():
                if info.name in known:
                    continue
                ids = [int(e["id"]) for e in info.changes]
                tx.execute(
                    "INSERT INTO releases (number, name, parent, created_at, created_by,"
                    " change_ids) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        info.number,
                        info.name,
                        info.parent,
                        info.created_at,
                        info.created_by,
                        json.dumps(ids),
                    ),
                )
                for cid in ids:
                    tx.execute(
                        "UPDATE changes SET status = ?, release_name = ?, updated_at = ?,"
                        " version = version + 1 WHERE id = ? AND status <> ?",
                        (PUBLISHED, info.name, utcnow(), cid, PUBLISHED),
                    )
                action = "release.seed" if info.number == 0 else "release.recovered"
                audit.record(tx, info.created_by, action, "release", info.name, None, changes=ids)

    # --- users and credentials --------------------------------------------------------------------

    def authenticate(self, token: str) -> User | None:
        """The user of an API token, or None."""
        with self.store.transaction() as tx:
            return auth.user_for_token(tx, token)

    def session_user(self, session_id: str, csrf: str | None, *, unsafe: bool) -> User:
        """The user of a browser session (CSRF-checked for unsafe methods)."""
        with self.store.transaction() as tx:
            return auth.user_for_session(tx, session_id, csrf, unsafe=unsafe)

    def start_session(self, user: User, client: str | None) -> auth.Session:
        """Sign a browser in."""
        with self.store.transaction() as tx:
            s = auth.start_session(tx, user)
            audit.record(tx, user.name, "session.start", "user", user.name, client)
        return s

    def end_session(self, user: User, session_id: str, client: str | None) -> None:
        """Sign a browser out."""
        with self.store.transaction() as tx:
            auth.end_session(tx, session_id)
            audit.record(tx, user.name, "session.end", "user", user.name, client)

    def add_user(
        self, actor: User | None, name: str, role: str, client: str | None = None, *, by: str = ""
    ) -> tuple[User, str]:
        """Create a user and their first token. ``actor`` None is the local CLI (the operator
        of the machine), which is how the first admin comes to exist."""
        who = require(actor, ADMIN).name if actor is not None else by or "cli"
        with self.store.transaction() as tx:
            user, token = auth.add_user(tx, name, role, who)
            audit.record(tx, who, "user.add", "user", name, client, role=role)
        return user, token

    def users(self, actor: User | None) -> list[User]:
        """Every user (admin, or the local CLI)."""
        if actor is not None:
            require(actor, ADMIN)
        with self.store.transaction() as tx:
            return auth.list_users(tx)

    def user(self, name: str) -> User:
        """One user by name."""
        with self.store.transaction() as tx:
            found = auth.get_user(tx, name)
        if found is None:
            raise NotFound(f"ukendt bruger {name!r}")
        return found

    def new_token(
        self, actor: User | None, name: str, client: str | None = None, *, by: str = ""
    ) -> str:
        """Issue another token for ``name`` (admin or the user themself; or the local CLI)."""
        who = by or "cli"
        if actor is not None:
            who = actor.name
            if actor.name != name:
                require(actor, ADMIN)
        target = self.user(name)
        with self.store.transaction() as tx:
            token = auth.issue_token(tx, target.id, f"udstedt af {who}")
            audit.record(tx, who, "token.issue", "user", name, client)
        return token

    def _own_or_admin(self, actor: User | None, name: str) -> tuple[User, str]:
        # An admin, the user themself, or (actor None) the operator at the server's CLI.
        if actor is not None and actor.name != name:
            require(actor, ADMIN)
        return self.user(name), actor.name if actor is not None else "cli"

    def tokens(self, actor: User | None, name: str) -> list[auth.TokenInfo]:
        """A user's tokens (admin or the user themself; or the local CLI)."""
        target, _ = self._own_or_admin(actor, name)
        with self.store.transaction() as tx:
            return auth.tokens_of(tx, target.id)

    def revoke_token(
        self,
        actor: User | None,
        name: str,
        token_id: int,
        client: str | None = None,
        *,
        by: str = "",
    ) -> None:
        """Revoke one token, say a leaked one, leaving the user's others working."""
        target, who = self._own_or_admin(actor, name)
        with self.store.transaction() as tx:
            if not auth.revoke_token(tx, target.id, token_id):
                raise NotFound(f"{name} har intet gyldigt token med id {token_id}")
            audit.record(tx, by or who, "token.revoke", "user", name, client, token=token_id)

    def update_user(
        self,
        actor: User | None,
        name: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        client: str | None = None,
        by: str = "",
    ) -> User:
        """Change a user's role or (dis)able them; disabling also revokes their tokens."""
        who = require(actor, ADMIN).name if actor is not None else by or "cli"
        with self.store.transaction() as tx:
            user = auth.set_role(tx, name, role, disabled)
            if disabled:
                auth.revoke_tokens(tx, user.id)
            audit.record(tx, who, "user.update", "user", name, client, role=role, disabled=disabled)
        return user

    # --- change records ---------------------------------------------------------------------------

    def change(self, change_id: int) -> Change:
        """One change, or :class:`NotFound`."""
        with self.store.transaction() as tx:
            found = get_change(tx, change_id)
        if found is None:
            raise NotFound(f"ukendt ændring #{change_id}")
        return found

    def changes(self, **filters: Any) -> list[Change]:
        """Changes, newest first (filters: status, target, author, limit, offset)."""
        with self.store.transaction() as tx:
            return list_changes(tx, **filters)

    def comments(self, change_id: int) -> list[review.Comment]:
        """The comments on a change."""
        with self.store.transaction() as tx:
            return review.comments(tx, change_id)

    def target(self, key: str) -> TargetState:
        """The current state of a change target (``concept:ffb/<code>``, ``mapping:...``)."""
        with self.store.transaction() as tx:
            return self._target(tx, key)

    def _target(self, tx: Any, key: str) -> TargetState:
        current = target_value(self.snapshot(), key)
        pending = open_changes_on(tx, key)
        basis = json.dumps(
            [current, [(c.id, c.version) for c in pending]], sort_keys=True, default=str
        )
        etag = '"target-' + hashlib.sha256(basis.encode()).hexdigest()[:24] + '"'
        return TargetState(key, current, pending, etag)

    def create_change(
        self,
        actor: User | None,
        kind: str,
        payload: Any,
        reason: Any,
        *,
        if_match: str | None = None,
        client: str | None = None,
    ) -> Change:
        """Record a new draft change. For a change to something that exists, ``if_match`` must
        be the target's current ETag (see :meth:`target`)."""
        user = require(actor, EDITOR)
        spec, clean, why = check_shape(kind, payload, reason)
        key = spec.target(clean)
        with self.store.transaction() as tx:
            if spec.name in NEEDS_IF_MATCH or if_match is not None:
                self._check_target(tx, key, if_match)
            change = insert_change(tx, spec, clean, why, user.id)
            audit.record(
                tx, user.name, "change.create", "change", change.id, client,
                kind=kind, target=key, payload=clean, reason=why,
            )  # fmt: skip
        return change

    def _check_target(self, tx: Any, key: str, if_match: str | None) -> None:
        state = self._target(tx, key)
        if if_match is None:
            raise PreconditionRequired(
                f"If-Match mangler: hent {key} først (GET .../targets?key=...) og send dens ETag"
            )
        if if_match.strip() not in (state.etag, "*"):
            others = ", ".join(f"#{c.id} ({c.author}, {c.status})" for c in state.open_changes)
            raise VersionConflict(
                f"{key} er ændret siden du hentede den; åbne ændringer: {others or 'ingen'}",
                state.etag,
                state,
            )

    def _load(self, tx: Any, change_id: int) -> Change:
        found = get_change(tx, change_id)
        if found is None:
            raise NotFound(f"ukendt ændring #{change_id}")
        return found

    def _expect(self, change: Change, if_match: str | None) -> int:
        if if_match is None:
            raise PreconditionRequired(
                f"If-Match mangler: send ETag'en fra GET /api/curation/changes/{change.id}"
            )
        if if_match.strip() != change.etag:
            raise VersionConflict(
                f"ændring #{change.id} er ændret siden du hentede den (nu version "
                f"{change.version}, status {change.status})",
                change.etag,
                change,
            )
        return change.version

    def _stale(self, tx: Any, change_id: int) -> VersionConflict:
        now = self._load(tx, change_id)
        return VersionConflict(f"ændring #{change_id} blev ændret samtidig", now.etag, now)

    def edit_change(
        self,
        actor: User | None,
        change_id: int,
        if_match: str | None,
        *,
        payload: Any = None,
        reason: Any = None,
        client: str | None = None,
    ) -> Change:
        """Edit a draft (author or admin). A proposed change goes back to draft when edited."""
        user = require(actor, EDITOR)
        with self.store.transaction() as tx:
            change = self._load(tx, change_id)
            version = self._expect(change, if_match)
            if change.author != user.name and not user.can(ADMIN):
                raise auth.Forbidden(f"kun forfatteren ({change.author}) kan rette #{change_id}")
            if change.status not in (DRAFT, PROPOSED):
                raise PublishBlocked(f"ændring #{change_id} er {change.status} og kan ikke rettes")
            spec, clean, why = check_shape(
                change.kind,
                change.payload if payload is None else payload,
                change.reason if reason is None else reason,
            )
            if spec.target(clean) != change.target:
                raise ChangeError(
                    [Problem("payload", "en ændring kan ikke skifte mål; opret en ny")]
                )
            updated = update_change(
                tx, change, version, payload=clean, reason=why, status=DRAFT, proposed_at=None
            )
            if updated is None:
                raise self._stale(tx, change_id)
            audit.record(
                tx, user.name, "change.edit", "change", change_id, client, payload=clean,
                reason=why,
            )  # fmt: skip
        return updated

    def propose(
        self, actor: User | None, change_id: int, if_match: str | None, client: str | None = None
    ) -> Change:
        """Send a draft to review after checking it against the current release."""
        return self._author_moves(
            actor, change_id, if_match, client, PROPOSED, "propose", "foreslå",
            check=lambda change: Workspace(self.snapshot()).apply(change, _today()),
            proposed_at=utcnow(),
        )  # fmt: skip

    def withdraw(
        self, actor: User | None, change_id: int, if_match: str | None, client: str | None = None
    ) -> Change:
        """Take a proposed change back to draft (author or admin)."""
        return self._author_moves(
            actor, change_id, if_match, client, DRAFT, "withdraw", "trække", proposed_at=None
        )

    def _author_moves(
        self,
        actor: User | None,
        change_id: int,
        if_match: str | None,
        client: str | None,
        to: str,
        action: str,
        verb_da: str,
        *,
        check: Callable[[Change], object] | None = None,
        proposed_at: str | None,
    ) -> Change:
        # Propose and withdraw: the author (or an admin) moves their own change.
        user = require(actor, EDITOR)
        with self.store.transaction() as tx:
            change = self._load(tx, change_id)
            version = self._expect(change, if_match)
            if change.author != user.name and not user.can(ADMIN):
                raise auth.Forbidden(
                    f"kun forfatteren ({change.author}) kan {verb_da} #{change_id}"
                )
            check_transition(change, to)
            if check is not None:
                check(change)
            updated = update_change(tx, change, version, status=to, proposed_at=proposed_at)
            if updated is None:
                raise self._stale(tx, change_id)
            audit.record(tx, user.name, f"change.{action}", "change", change_id, client)
        return updated

    def approve(
        self,
        actor: User | None,
        change_id: int,
        if_match: str | None,
        note: str | None = None,
        client: str | None = None,
    ) -> Change:
        """Approve a proposed change (approver, never its author); flags conflicts."""
        return self._decide(actor, change_id, if_match, note, client, review.approve, "approve")

    def reject(
        self,
        actor: User | None,
        change_id: int,
        if_match: str | None,
        note: str | None = None,
        client: str | None = None,
    ) -> Change:
        """Reject a proposed change, or an approved one that conflicts (approver, not author)."""
        return self._decide(actor, change_id, if_match, note, client, review.reject, "reject")

    def _decide(self, actor, change_id, if_match, note, client, decide, action: str) -> Change:
        # approve and reject differ only in the review step and what the audit line records
        user = require(actor, APPROVER)
        with self.store.transaction() as tx:
            change = self._load(tx, change_id)
            version = self._expect(change, if_match)
            updated = decide(tx, change, user, version, note)
            if updated is None:
                raise self._stale(tx, change_id)
            extra = {"conflicts": list(updated.conflicts)} if action == "approve" else {}
            audit.record(
                tx, user.name, f"change.{action}", "change", change_id, client, note=note, **extra
            )
        return updated

    def comment(
        self, actor: User | None, change_id: int, body: str, client: str | None = None
    ) -> review.Comment:
        """Comment on a change (any editor or approver)."""
        user = require(actor, EDITOR)
        with self.store.transaction() as tx:
            change = self._load(tx, change_id)
            c = review.add_comment(tx, change, user, body)
            audit.record(tx, user.name, "change.comment", "change", change_id, client)
        return c

    # --- releases ---------------------------------------------------------------------------------

    def releases(self) -> list[ReleaseInfo]:
        """Every release, oldest first."""
        return self.data.releases()

    def release(self, name: str) -> ReleaseInfo:
        """One release by name or number."""
        try:
            return self.data.release(name)
        except ReleaseError as exc:
            raise NotFound(str(exc)) from None

    def release_snapshot(self, name: str) -> Any:
        """The snapshot of any release (the current one is the served one)."""
        info = self.release(name)
        snap = self.snapshot()
        return snap if snap.release == info.name else self.data.load(info)

    def publish(
        self, actor: User | None, client: str | None = None, *, on_stage: Stage | None = None
    ) -> ReleaseInfo:
        """Apply every approved change to the current release and serve the result."""
        user = require(actor, APPROVER)
        with self._publish_lock, _file_lock(self.data.root / ".publish.lock"):
            self.refresh()
            with self.store.transaction() as tx:
                approved = [
                    c for c in list_changes(tx, status=APPROVED, limit=10_000) if c.release is None
                ]
            approved.sort(key=lambda c: (c.decided_at or "", c.id))
            if not approved:
                raise PublishBlocked("ingen godkendte ændringer at udgive")
            flagged = [c for c in approved if c.conflicts]
            if flagged:
                raise PublishBlocked(
                    "godkendte ændringer er i konflikt; afvis den ene af hvert par først: "
                    + "; ".join(f"#{c.id} mod {list(c.conflicts)}" for c in flagged)
                )
            parent = self.data.current()
            info, snap = self.data.build(
                parent, self.snapshot(), approved, user.name, on_stage=on_stage
            )
            with self.store.transaction() as tx:
                tx.execute(
                    "INSERT INTO releases (number, name, parent, created_at, created_by,"
                    " change_ids) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        info.number,
                        info.name,
                        info.parent,
                        info.created_at,
                        user.name,
                        json.dumps([c.id for c in approved]),
                    ),
                )
                for c in approved:
                    tx.execute(
                        "UPDATE changes SET status = ?, release_name = ?, updated_at = ?,"
                        " version = version + 1 WHERE id = ?",
                        (PUBLISHED, info.name, utcnow(), c.id),
                    )
                audit.record(
                    tx, user.name, "release.publish", "release", info.name, client,
                    parent=info.parent, changes=[c.id for c in approved],
                    scheme_versions=info.scheme_versions,
                )  # fmt: skip
            self._install(snap)
        return info

    # --- audit ----------------------------------------------------------------------------------

    def audit(self, caller: User | None, **filters: Any) -> list[audit.AuditEntry]:
        """Audit entries (approver or admin; None is the local CLI)."""
        if caller is not None:
            require(caller, APPROVER)
        with self.store.transaction() as tx:
            return audit.query(tx, **filters)

    def can_read(self, actor: User | None) -> None:
        """Reads are open unless the server was configured otherwise."""
        if not self.open_reads:
            require(actor, READER)


def _today() -> date:
    return datetime.now(UTC).date()


def target_value(snapshot: Any, key: str) -> dict[str, Any] | None:
    """The current value of a target key in a snapshot, as plain data (None if absent)."""
    kind, _, rest = key.partition(":")
    if kind == "concept":
        scheme, _, code = rest.partition("/")
        try:
            system = snapshot.vocab.system_of(scheme)
        except TermserverError:
            return None
        c = snapshot.vocab.get(system, code)
        if c is None:
            return None
        return {
            "scheme": scheme,
            "code": c.code,
            "version": c.version,
            "label": c.display,
            "definition": c.definition,
            "note": c.note,
            "parents": list(c.parents),
            "status": c.status,
            "replaced_by": list(c.replaced_by),
        }
    if kind == "mapping":
        parts = rest.split("/")
        if len(parts) != 3:
            return None
        set_id, subject, obj = parts
        try:
            ms = snapshot.translator.mapping_set(set_id)
        except TermserverError:
            return None
        for m in ms.mappings:
            if m.subject_code == subject and m.object_code == obj:
                return {"set": set_id, "subject": subject, "object": obj,
                        "predicate": m.predicate, **m.provenance()}  # fmt: skip
        return None
    if kind == "valueset":
        vs = snapshot.valuesets.get(rest)
        return None if vs is None else {"url": vs.url, "version": vs.version, "compose": vs.compose}
    return None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes sharing the data directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
