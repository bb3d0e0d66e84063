"""Computing diffs: two releases of a code system, two snapshots, two collections of mapping
sets; and reading release references (``ffb@20240530``)."""

from __future__ import annotations

from collections.abc import Iterable

from termserver.diff.records import (
    _SCHEME_FIELDS,
    _WS,
    ADDED,
    ALTERNATIVE,
    MAPPING_FIELDS,
    MOVED,
    PREFERRED,
    PROPERTY,
    REACTIVATED,
    REDEFINED,
    RELABELLED,
    REMOVED,
    RETIRED,
    ConceptChange,
    MappingChange,
    MappingDiff,
    Ref,
    ReleaseDiff,
    SchemeDiff,
)
from termserver.errors import UnknownConceptError
from termserver.mappings import Mapping, MappingSet
from termserver.model import ACTIVE, Concept
from termserver.vocabulary import Vocabulary

# --- diffing concepts ---------------------------------------------------------------------------


def diff_versions(
    vocab_a: Vocabulary,
    system: str,
    version_a: str | None,
    vocab_b: Vocabulary | None = None,
    version_b: str | None = None,
) -> SchemeDiff:
    """Classify every change to ``system`` from ``version_a`` (in ``vocab_a``) to ``version_b``
    (in ``vocab_b``, default: the same vocabulary). A version of None means the newest.

    Raises :class:`~termserver.errors.UnknownConceptError` for an unknown system or version.
    """
    vocab_b = vocab_b or vocab_a
    meta_a = vocab_a.release(system, version_a)
    meta_b = vocab_b.release(system, version_b)
    old = {c.code: c for c in vocab_a.concepts(system, meta_a.version)}
    new = {c.code: c for c in vocab_b.concepts(system, meta_b.version)}
    return _diff_concepts(meta_a, meta_b, old, new)


def _diff_concepts(meta_a, meta_b, old: dict[str, Concept], new: dict[str, Concept]) -> SchemeDiff:
    def ref(code: str) -> Ref:
        c = new.get(code) or old.get(code)
        return Ref(code, c.display.strip() if c else code)

    changes: list[ConceptChange] = []
    for code in sorted(old.keys() | new.keys()):
        a, b = old.get(code), new.get(code)
        if a is None:
            changes.append(ConceptChange(ADDED, code, b.display, after=b.status))
            continue
        if b is None:
            changes.append(ConceptChange(REMOVED, code, a.display, before=a.status))
            continue
        changes.extend(_concept_changes(a, b, ref))
    metadata = {
        f: (getattr(meta_a, f), getattr(meta_b, f))
        for f in _SCHEME_FIELDS
        if getattr(meta_a, f) != getattr(meta_b, f)
    }
    return SchemeDiff(
        system=meta_b.system,
        scheme=meta_b.scheme,
        version_a=meta_a.version,
        version_b=meta_b.version,
        changes=tuple(changes),
        metadata=metadata,
        concepts_a=len(old),
        concepts_b=len(new),
    )


def _same_content(a: Concept, b: Concept) -> bool:
    """Fast path: most concepts do not change between releases (their version field does)."""
    return (
        a.display == b.display
        and a.definition == b.definition
        and a.parents == b.parents
        and a.status == b.status
        and a.replaced_by == b.replaced_by
        and a.designations == b.designations
        and a.properties == b.properties
        and a.language == b.language
        and a.not_selectable == b.not_selectable
        and a.note == b.note
        and a.sources == b.sources
    )


def _concept_changes(a: Concept, b: Concept, ref) -> list[ConceptChange]:
    if _same_content(a, b):
        return []
    out: list[ConceptChange] = []
    code, display = b.code, b.display
    if a.status != b.status or (b.status != ACTIVE and a.replaced_by != b.replaced_by):
        kind = REACTIVATED if b.status == ACTIVE else RETIRED
        out.append(
            ConceptChange(
                kind,
                code,
                display,
                before=a.status,
                after=b.status,
                replaced_by=tuple(ref(r) for r in b.replaced_by),
            )
        )
    pref_a, alt_a = _labels(a)
    pref_b, alt_b = _labels(b)
    for lang in sorted(pref_a.keys() | pref_b.keys()):
        before, after = pref_a.get(lang), pref_b.get(lang)
        if before != after:
            out.append(
                ConceptChange(
                    RELABELLED,
                    code,
                    display,
                    before=before,
                    after=after,
                    language=lang,
                    label_type=PREFERRED,
                    whitespace_only=_same_words(before, after),
                )
            )
    for lang in sorted(alt_a.keys() | alt_b.keys()):
        before, after = alt_a.get(lang, ()), alt_b.get(lang, ())
        if before != after:
            out.append(
                ConceptChange(
                    RELABELLED,
                    code,
                    display,
                    before=before,
                    after=after,
                    language=lang,
                    label_type=ALTERNATIVE,
                    whitespace_only=sorted(map(_words, before)) == sorted(map(_words, after)),
                )
            )
    if a.definition != b.definition:
        out.append(
            ConceptChange(
                REDEFINED,
                code,
                display,
                before=a.definition,
                after=b.definition,
                whitespace_only=_same_words(a.definition, b.definition),
            )
        )
    if set(a.parents) != set(b.parents):
        out.append(
            ConceptChange(
                MOVED,
                code,
                display,
                before=tuple(ref(p) for p in a.parents),
                after=tuple(ref(p) for p in b.parents),
            )
        )
    props_a, props_b = _properties(a), _properties(b)
    for prop in sorted(props_a.keys() | props_b.keys()):
        before, after = props_a.get(prop, ()), props_b.get(prop, ())
        if before != after:
            out.append(
                ConceptChange(PROPERTY, code, display, before=before, after=after, property=prop)
            )
    return out


def _labels(c: Concept) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Preferred label per language and the other labels per language.

    The preferred label in the concept's own language is its display; in another language it is
    the first plain designation in that language (the rule the JSON API uses for ``labels``).
    """
    preferred = {c.language: c.display}
    others: dict[str, list[str]] = {}
    for d in c.designations:
        lang = d.language or c.language
        if d.use_code is None and d.language and lang not in preferred:
            preferred[lang] = d.value
        else:
            others.setdefault(lang, []).append(d.value)
    return preferred, {k: tuple(sorted(v)) for k, v in others.items()}


def _properties(c: Concept) -> dict[str, tuple[str, ...]]:
    props: dict[str, list[str]] = {}
    for pv in c.properties:
        props.setdefault(pv.code, []).append(str(pv.value))
    if c.not_selectable:
        props["notSelectable"] = ["true"]
    if c.note:
        props["note"] = [c.note]
    if c.sources:
        props["source"] = list(c.sources)
    return {k: tuple(sorted(v)) for k, v in props.items()}


def _words(text: str | None) -> str | None:
    return None if text is None else _WS.sub(" ", text).strip()


def _same_words(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _words(a) == _words(b)


def diff_releases(
    vocab_a: Vocabulary,
    vocab_b: Vocabulary,
    *,
    mapping_sets_a: Iterable[MappingSet] = (),
    mapping_sets_b: Iterable[MappingSet] = (),
    label_a: str | None = None,
    label_b: str | None = None,
) -> ReleaseDiff:
    """Compare two snapshots: the newest release of every scheme in ``vocab_a`` against the
    newest in ``vocab_b``, and the two collections of mapping sets."""
    systems_a, systems_b = set(vocab_a.systems()), set(vocab_b.systems())
    schemes = tuple(
        diff_versions(vocab_a, s, None, vocab_b, None) for s in sorted(systems_a & systems_b)
    )
    return ReleaseDiff(
        label_a=label_a or vocab_a.label,
        label_b=label_b or vocab_b.label,
        schemes=schemes,
        schemes_added=tuple(
            f"{s}|{vocab_b.default_version(s)}" for s in sorted(systems_b - systems_a)
        ),
        schemes_removed=tuple(
            f"{s}|{vocab_a.default_version(s)}" for s in sorted(systems_a - systems_b)
        ),
        mappings=diff_mapping_sets(mapping_sets_a, mapping_sets_b),
    )


def as_release_diff(diff: SchemeDiff | ReleaseDiff) -> ReleaseDiff:
    """A scheme diff wrapped as a release diff, so both render and serialise the same way."""
    if isinstance(diff, ReleaseDiff):
        return diff
    return ReleaseDiff(
        label_a=f"{diff.scheme}|{diff.version_a}",
        label_b=f"{diff.scheme}|{diff.version_b}",
        schemes=(diff,),
    )


# --- diffing mappings ---------------------------------------------------------------------------


def diff_mapping_sets(
    old_sets: Iterable[MappingSet], new_sets: Iterable[MappingSet]
) -> MappingDiff:
    """Rows added, removed or changed between two collections of mapping sets (matched by set id).

    A row is identified by its set, subject and object; a new predicate on the same pair is a
    changed relation, not a removal plus an addition. Should a set hold the same pair twice, the
    rows are paired in file order.
    """
    old = {ms.id: ms for ms in old_sets}
    new = {ms.id: ms for ms in new_sets}
    changes: list[MappingChange] = []
    for set_id in sorted(old.keys() | new.keys()):
        rows_a = _rows(old[set_id]) if set_id in old else {}
        rows_b = _rows(new[set_id]) if set_id in new else {}
        for key in sorted(rows_a.keys() | rows_b.keys()):
            before, after = rows_a.get(key, []), rows_b.get(key, [])
            for i in range(max(len(before), len(after))):
                a = before[i] if i < len(before) else None
                b = after[i] if i < len(after) else None
                if a is None:
                    changes.append(MappingChange("added", set_id, *key, after=b))
                elif b is None:
                    changes.append(MappingChange("removed", set_id, *key, before=a))
                else:
                    fields = {
                        f: (getattr(a, f), getattr(b, f))
                        for f in MAPPING_FIELDS
                        if getattr(a, f) != getattr(b, f)
                    }
                    if fields:
                        changes.append(
                            MappingChange("changed", set_id, *key, before=a, after=b, fields=fields)
                        )
    return MappingDiff(
        changes=tuple(changes),
        sets_added=tuple(sorted(new.keys() - old.keys())),
        sets_removed=tuple(sorted(old.keys() - new.keys())),
    )


def _rows(ms: MappingSet) -> dict[tuple[str, str, str, str], list[Mapping]]:
    rows: dict[tuple[str, str, str, str], list[Mapping]] = {}
    for m in ms.mappings:
        key = (m.subject_system, m.subject_code, m.object_system, m.object_code)
        rows.setdefault(key, []).append(m)
    return rows


# --- release references -------------------------------------------------------------------------


def parse_release_ref(vocab: Vocabulary, text: str) -> tuple[str, str]:
    """``ffb@20200908``, ``ffb|20200908``, ``urn:oid:...|20200908`` or ``ffb`` (newest) ->
    ``(system, version)``. Raises :class:`UnknownConceptError` naming what is unknown."""
    text = text.strip()
    if not text or len(text) > 500:
        raise UnknownConceptError("a release is written scheme@version or system|version")
    if "|" in text:
        name, _, version = text.partition("|")
    elif "@" in text:
        name, _, version = text.rpartition("@")
    else:
        name, version = text, ""
    system = name if name in vocab.systems() else vocab.system_of(name)
    version = version or vocab.default_version(system)
    vocab.release(system, version)  # raises naming the versions held
    return system, version
