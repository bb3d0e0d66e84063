"""Classified differences between releases, their impact, and the Danish changelog.

A diff compares two releases of one code system (:func:`diff_versions`), two whole vocabulary
snapshots (:func:`diff_releases`: the newest release of every scheme in each) or two collections
of mapping sets (:func:`diff_mapping_sets`). Concepts are matched by code: FFB codes are UUIDs and
stay the same from release to release, so a code is the concept's identity.

Every concept change falls in one class (a concept can be in several):

- ``added`` / ``removed``: the code is only in the newer / only in the older release. Removal
  should not happen (deprecation never deletes), so it is reported apart from retirement.
- ``retired``: the status went from active to deprecated or retired (or deprecated to retired),
  or the replacement of a retired concept changed; ``reactivated``: back to active.
- ``relabelled``: a preferred label (per language) or the alternative labels of a language
  changed; a change that only touches whitespace is flagged, since KL's 2023 release trimmed
  trailing spaces from 72 FFB labels and a curator wants to see those apart from real renames.
- ``redefined``: the definition changed (also added or dropped).
- ``moved``: the set of broader concepts changed.
- ``property``: another property changed (FHIR properties, notSelectable, note, sources).

The package is pure: it reads :class:`~termserver.vocabulary.Vocabulary` snapshots, mapping sets
and value set indexes, and never stores anything, so the curation engine, the CLI and the API all
call the same functions.

Modules: :mod:`.records` (the change records), :mod:`.compare` (computing diffs),
:mod:`.impact` (what uses the changes), :mod:`.changelog` (Danish Markdown and text).
"""

from __future__ import annotations

from termserver.diff.changelog import (
    changelog_markdown,
    changelog_text,
)
from termserver.diff.compare import (
    as_release_diff,
    diff_mapping_sets,
    diff_releases,
    diff_versions,
    parse_release_ref,
)
from termserver.diff.impact import (
    Impact,
    MappingImpact,
    PlanCodes,
    PlanImpact,
    ValueSetImpact,
    changed_concepts,
    impact,
)
from termserver.diff.records import (
    ADDED,
    ALTERNATIVE,
    CLASS_TITLES_DA,
    CLASSES,
    EXISTING_CLASSES,
    MAPPING_FIELDS,
    MAPPING_TITLES_DA,
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

__all__ = [
    "ADDED",
    "ALTERNATIVE",
    "CLASSES",
    "CLASS_TITLES_DA",
    "EXISTING_CLASSES",
    "MAPPING_FIELDS",
    "MAPPING_TITLES_DA",
    "MOVED",
    "PREFERRED",
    "PROPERTY",
    "REACTIVATED",
    "REDEFINED",
    "RELABELLED",
    "REMOVED",
    "RETIRED",
    "ConceptChange",
    "Impact",
    "MappingChange",
    "MappingDiff",
    "MappingImpact",
    "PlanCodes",
    "PlanImpact",
    "Ref",
    "ReleaseDiff",
    "SchemeDiff",
    "ValueSetImpact",
    "as_release_diff",
    "changed_concepts",
    "changelog_markdown",
    "changelog_text",
    "diff_mapping_sets",
    "diff_releases",
    "diff_versions",
    "impact",
    "parse_release_ref",
]
