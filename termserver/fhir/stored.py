"""FHIR CodeSystems, ValueSets and ConceptMaps that admins put on the server.

``PUT /fhir/CodeSystem/{id}`` (and ValueSet, ConceptMap; ``POST`` to create, ``DELETE``) keep
resources in the curation database, next to the change records: every write is a new row, so a
version is never overwritten and a delete is a row too. The resources are checked exactly as
``tx-resource`` and ``--fhir-dir`` ones are, and laid over the snapshot the same way, for every
FHIR operation on every replica. A replica sees another's write by polling the newest row id
(one indexed ``MAX`` every two seconds), so no request ever waits on the database for this.

Official FFB content is not writable here: a CodeSystem, ValueSet or ConceptMap whose URL the
snapshot already serves is refused (409), since that content changes only through curation.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from termserver.curation import audit
from termserver.curation.auth import User
from termserver.curation.store import IntegrityError, Store, Tx, utcnow
from termserver.fhir.outcome import FhirError, bad_request
from termserver.fhir.overlay import Overlay, Parsed, build_overlay, parse_resources

log = logging.getLogger("termserver.fhir.stored")

#: Resource types admins may put.
WRITABLE = ("CodeSystem", "ValueSet", "ConceptMap")
#: FHIR's id datatype: letters, digits, '-' and '.', at most 64.
ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ETAG = re.compile(r'(?:W/)?"(\d+)"')


@dataclass(frozen=True)
class StoredVersion:
    """One row: a version of a resource, or its deletion."""

    resource_type: str
    resource_id: str
    version: int
    deleted: bool
    body: dict[str, Any] | None
    updated_at: str
    updated_by: str

    @property
    def etag(self) -> str:
        """The version as an ETag, as FHIR servers give it."""
        return f'W/"{self.version}"'


def _version(row: dict[str, Any]) -> StoredVersion:
    body = orjson.loads(row["body"]) if row["body"] else None
    return StoredVersion(
        row["resource_type"],
        row["resource_id"],
        int(row["version"]),
        bool(row["deleted"]),
        body,
        row["updated_at"],
        row["updated_by"],
    )


def check_id(resource_type: str, resource_id: str) -> None:
    """404 for a type that is not stored here, 400 for an id FHIR would not accept."""
    if resource_type not in WRITABLE:
        raise FhirError(404, "not-found", f"resources of type {resource_type!r} are not stored")
    if not ID_PATTERN.fullmatch(resource_id):
        raise bad_request(
            f"{resource_id[:80]!r} is not a FHIR id (letters, digits, '-' and '.', at most 64)",
            "id",
        )


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header names (``W/"3"``), or None without one; 400 if
    malformed."""
    if if_match is None:
        return None
    m = _ETAG.fullmatch(if_match.strip())
    if not m:
        raise bad_request(f'If-Match must be an ETag like W/"3", got {if_match[:80]!r}')
    return int(m.group(1))


class StoredResources:
    """The stored resources of one database, and their overlay over any snapshot view."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._generation = -1
        self._parts: tuple[tuple[str, Parsed], ...] = ()  # (type/id, checked resource)
        self._docs: dict[str, tuple[dict[str, Any], ...]] = {}  # live bodies by type
        self._last: tuple[Any, Any, int, Overlay] | None = None  # base's parts, generation
        self._base: Overlay | None = None  # the last view laid over, rebuilt ahead on a write
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- reading ---------------------------------------------------------------------------------

    def current(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The newest row of a resource (a deletion included), or None if never stored."""
        with self.store.transaction() as tx:
            return self._current(tx, resource_type, resource_id)

    @staticmethod
    def _current(tx: Tx, resource_type: str, resource_id: str) -> StoredVersion | None:
        row = tx.one(
            "SELECT * FROM fhir_resources WHERE resource_type = ? AND resource_id = ?"
            " ORDER BY version DESC LIMIT 1",
            (resource_type, resource_id),
        )
        return _version(row) if row else None

    def history(self, resource_type: str, resource_id: str) -> list[StoredVersion]:
        """Every version of a resource, newest first."""
        with self.store.transaction() as tx:
            rows = tx.all(
                "SELECT * FROM fhir_resources WHERE resource_type = ? AND resource_id = ?"
                " ORDER BY version DESC",
                (resource_type, resource_id),
            )
        return [_version(r) for r in rows]

    def version(self, resource_type: str, resource_id: str, version: int) -> StoredVersion | None:
        """One version of a resource, or None."""
        with self.store.transaction() as tx:
            row = tx.one(
                "SELECT * FROM fhir_resources WHERE resource_type = ? AND resource_id = ?"
                " AND version = ?",
                (resource_type, resource_id, version),
            )
        return _version(row) if row else None

    @staticmethod
    def _live_rows(tx: Tx) -> list[dict[str, Any]]:
        return tx.all(
            "SELECT f.resource_type, f.resource_id, f.url, f.body FROM fhir_resources f"
            " JOIN (SELECT resource_type, resource_id, MAX(version) AS v FROM fhir_resources"
            " GROUP BY resource_type, resource_id) m ON f.resource_type = m.resource_type"
            " AND f.resource_id = m.resource_id AND f.version = m.v"
            " WHERE f.deleted = 0 ORDER BY f.id"
        )

    # --- writing ---------------------------------------------------------------------------------

    def put(
        self,
        actor: User,
        resource_type: str,
        resource_id: str,
        doc: Any,
        *,
        if_match: str | None,
        served: frozenset[tuple[str, str]],
        client: str | None = None,
    ) -> tuple[StoredVersion, bool]:
        """Store a new version of a resource; returns it and whether it was created.

        ``served`` holds the (type, url) pairs the FHIR API serves from the snapshot and the
        start-up resources (:func:`served_urls`): a resource claiming one of them is refused.
        """
        check_id(resource_type, resource_id)
        self._check_body(resource_type, resource_id, doc)
        wanted = expected_version(if_match)
        url = doc.get("url")
        with self.store.transaction() as tx:
            held = self._current(tx, resource_type, resource_id)
            live = held is not None and not held.deleted
            _check_if_match(resource_type, resource_id, held if live else None, wanted)
            self._check_url(tx, resource_type, resource_id, url, served)
            version, now = (held.version if held else 0) + 1, utcnow()
            stamped = doc | {
                "id": resource_id,
                "meta": (doc.get("meta") if isinstance(doc.get("meta"), dict) else {})
                | {"versionId": str(version), "lastUpdated": now},
            }
            body = orjson.dumps(stamped).decode()
            _append(tx, resource_type, resource_id, version, body, url, now, actor.name)
            audit.record(
                tx,
                actor.name,
                "fhir.create" if not live else "fhir.update",
                resource_type,
                resource_id,
                client,
                version=version,
                url=url,
                sha256=hashlib.sha256(body.encode()).hexdigest(),
            )
        self.refresh()
        written = StoredVersion(
            resource_type, resource_id, version, False, stamped, now, actor.name
        )
        return written, not live

    def delete(
        self,
        actor: User,
        resource_type: str,
        resource_id: str,
        *,
        if_match: str | None,
        client: str | None = None,
    ) -> StoredVersion:
        """Mark a resource deleted (a new row; its versions stay readable); 404 if not live."""
        check_id(resource_type, resource_id)
        wanted = expected_version(if_match)
        with self.store.transaction() as tx:
            held = self._current(tx, resource_type, resource_id)
            if held is None or held.deleted:
                raise FhirError(
                    404, "not-found", f"no stored {resource_type} with id {resource_id!r}"
                )
            _check_if_match(resource_type, resource_id, held, wanted)
            version, now = held.version + 1, utcnow()
            _append(tx, resource_type, resource_id, version, None, None, now, actor.name)
            audit.record(
                tx, actor.name, "fhir.delete", resource_type, resource_id, client, version=version
            )
        self.refresh()
        return StoredVersion(resource_type, resource_id, version, True, None, now, actor.name)

    @staticmethod
    def _check_body(resource_type: str, resource_id: str, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise bad_request(f"the body must be a {resource_type} resource (a JSON object)")
        if doc.get("resourceType") != resource_type:
            raise bad_request(
                f"the body is a {doc.get('resourceType')!r}, but the URL names a {resource_type}",
                "resourceType",
            )
        if "id" in doc and doc["id"] != resource_id:
            raise bad_request(
                f"the body's id {str(doc['id'])[:80]!r} differs from the id in the URL "
                f"{resource_id!r}",
                f"{resource_type}.id",
            )
        if not isinstance(doc.get("url"), str) or not doc["url"].strip():
            raise bad_request(f"a stored {resource_type} needs a url", f"{resource_type}.url")
        # The same checks as tx-resource and --fhir-dir: 400 naming the JSON path.
        parse_resources([doc], where=resource_type, single=True)

    def _check_url(
        self,
        tx: Tx,
        resource_type: str,
        resource_id: str,
        url: str,
        served: frozenset[tuple[str, str]],
    ) -> None:
        holder = tx.one(
            "SELECT f.resource_id FROM fhir_resources f WHERE f.resource_type = ? AND f.url = ?"
            " AND f.resource_id <> ? AND f.deleted = 0 AND f.version = (SELECT MAX(version)"
            " FROM fhir_resources g WHERE g.resource_type = f.resource_type"
            " AND g.resource_id = f.resource_id)",
            (resource_type, url, resource_id),
        )
        if holder:
            raise FhirError(
                409,
                "duplicate",
                f"{resource_type}/{holder['resource_id']} already has the url {url!r}",
                f"{resource_type}.url",
            )
        if (resource_type, url) in served:
            raise FhirError(
                409,
                "business-rule",
                f"{url!r} is served from this server's own content (a release or --fhir-dir); "
                "official content changes only through curation (/api/curation)",
                f"{resource_type}.url",
            )

    # --- the overlay -----------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Load the stored resources again if any write happened since; True if they changed."""
        with self.store.transaction() as tx:
            row = tx.one("SELECT MAX(id) AS g FROM fhir_resources")
            generation = int(row["g"] or 0) if row else 0
            if generation == self._generation:
                return False
            rows = self._live_rows(tx)
        parts = _parse_each(rows)
        docs = {
            t: tuple(orjson.loads(r["body"]) for r in rows if r["resource_type"] == t)
            for t in WRITABLE
        }
        with self._lock:
            self._parts, self._docs, self._generation = parts, docs, generation
            base = self._base
        if base is not None:
            # Lay the new resources over the last view now (in the writer's or the poller's
            # thread), so the next FHIR request does not pay for the rebuild.
            self.view(base)
        return True

    def view(self, base: Overlay) -> Overlay:
        """``base`` (what the FHIR API shows without stored resources) with them laid over it."""
        with self._lock:
            parts, generation, last = self._parts, self._generation, self._last
            if not parts:
                self._base = base
                return base
        # Keyed on the parts, not the Overlay: a caller may wrap the same parts in a new one.
        if (
            last is not None
            and last[0] is base.vocab
            and last[1] is base.valuesets
            and last[2] == generation
        ):
            return last[3]
        shown = _lay_over(base, parts)
        with self._lock:
            self._last = (base.vocab, base.valuesets, generation, shown)
            self._base = base
        return shown

    def docs(self, resource_type: str) -> tuple[dict[str, Any], ...]:
        """The live stored resources of one type, as stored (for search)."""
        with self._lock:
            return self._docs.get(resource_type, ())

    def watch(self, interval: float = 2.0) -> None:
        """Poll for writes made through other replicas."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception as exc:  # a database hiccup must not end the poller
                    log.warning("could not read stored FHIR resources: %s", exc)

        self._watcher = threading.Thread(target=loop, name="fhir-stored-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)


def _check_if_match(
    resource_type: str, resource_id: str, live: StoredVersion | None, wanted: int | None
) -> None:
    """412 when ``If-Match`` names another version than the live one (or there is none)."""
    if wanted is None or (live is not None and live.version == wanted):
        return
    now = f'W/"{live.version}"' if live is not None else "none"
    raise FhirError(
        412,
        "conflict",
        f'{resource_type}/{resource_id} is at version {now}, not W/"{wanted}" (If-Match); '
        "read it again and retry",
    )


def _append(
    tx: Tx,
    resource_type: str,
    resource_id: str,
    version: int,
    body: str | None,
    url: str | None,
    now: str,
    actor: str,
) -> None:
    """Write one version row (a deletion when ``body`` is None); 409 if another request wrote
    that version first (the unique key on type, id and version)."""
    try:
        tx.execute(
            "INSERT INTO fhir_resources (resource_type, resource_id, version, deleted, body,"
            " url, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (resource_type, resource_id, version, int(body is None), body, url, now, actor),
        )
    except IntegrityError:
        raise FhirError(
            409,
            "conflict",
            f"{resource_type}/{resource_id} was changed by another request at the same time; "
            "read it again and retry",
        ) from None


def served_urls(base: Overlay, conceptmap_urls: Iterable[str]) -> frozenset[tuple[str, str]]:
    """The (type, url) pairs of what the FHIR API serves before stored resources are laid over:
    ``base`` is the snapshot with the start-up resources, ``conceptmap_urls`` the mapping sets."""
    pairs = {("CodeSystem", system) for system in base.vocab.systems()}
    pairs |= {("ValueSet", vs.url) for vs in base.valuesets.definitions()}
    pairs |= {
        ("ConceptMap", cm["url"]) for cm in base.conceptmaps if isinstance(cm.get("url"), str)
    }
    pairs |= {("ConceptMap", url) for url in conceptmap_urls}
    return frozenset(pairs)


def _parse_each(rows: Iterable[dict[str, Any]]) -> tuple[tuple[str, Parsed], ...]:
    """Every stored resource, checked; one that no longer parses is left out (and logged)
    rather than hiding all the others."""
    parts: list[tuple[str, Parsed]] = []
    for r in rows:
        where = f"{r['resource_type']}/{r['resource_id']}"
        try:
            parts.append(
                (where, parse_resources([orjson.loads(r["body"])], where=where, single=True))
            )
        except FhirError as exc:
            log.error("stored %s is not usable and is not shown: %s", where, exc.diagnostics)
    return tuple(parts)


def _urls(parsed: Parsed) -> set[tuple[str, str]]:
    urls = {("CodeSystem", cs.scheme.system) for cs in parsed.codesystems}
    urls |= {("ValueSet", vs.url) for vs in parsed.valuesets}
    return urls | {("ConceptMap", cm["url"]) for cm in parsed.conceptmaps}


def _merged(parts: Iterable[Parsed]) -> Parsed:
    parts = list(parts)
    return Parsed(
        tuple(cs for p in parts for cs in p.codesystems),
        tuple(vs for p in parts for vs in p.valuesets),
        tuple(s for p in parts for s in p.supplements),
        tuple(cm for p in parts for cm in p.conceptmaps),
    )


def _lay_over(base: Overlay, parts: tuple[tuple[str, Parsed], ...]) -> Overlay:
    """``base`` with the stored resources over it. The server's own content wins: a stored
    resource whose URL ``base`` now serves (a release published after it was stored) is left
    out and logged, and so is one that cannot be laid over the others."""
    served = served_urls(base, ())
    kept = []
    for where, parsed in parts:
        if _urls(parsed) & served:
            log.error("stored %s is not shown: the server's own content has its url", where)
        else:
            kept.append((where, parsed))
    try:
        return build_overlay(base, _merged(p for _, p in kept))
    except FhirError:
        pass
    shown = base  # one of them clashes with another: add them one at a time to find which
    for where, parsed in kept:
        try:
            shown = build_overlay(shown, parsed)
        except FhirError as exc:
            log.error("stored %s is not shown: %s", where, exc.diagnostics)
    return shown
