"""The domain records every other module exchanges: schemes, releases and concepts.

They are immutable: a snapshot is built from them once and shared by all readers without locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTIVE = "active"
DEPRECATED = "deprecated"  # still valid, but should no longer be used (FHIR "deprecated")
RETIRED = "retired"  # no longer valid (FHIR "retired" / inactive)
STATUSES = (ACTIVE, DEPRECATED, RETIRED)


@dataclass(frozen=True, slots=True)
class Designation:
    """An additional label: FHIR ``concept.designation``."""

    value: str
    language: str | None = None
    use_system: str | None = None
    use_code: str | None = None
    use_display: str | None = None
    #: The canonical of the code system supplement it came from (None: the code system's own).
    source: str | None = None
    #: Extensions a FHIR source gives it (``coding-sctdescid`` ...): (URL, its value[x] key,
    #: value), as :data:`termserver.loading.fhir_codesystem.DESIGNATION_EXTENSIONS` keeps them.
    extensions: tuple[tuple[str, str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """A concept property a code system declares: FHIR ``CodeSystem.property``."""

    code: str
    type: str
    uri: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One property value on a concept. Codings are kept as ``system|code``."""

    code: str
    type: str  # code | Coding | string | integer | boolean | dateTime | decimal
    value: str | int | bool | float


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept as it stands in one release of its scheme."""

    scheme: str
    system: str
    version: str
    code: str
    iri: str
    display: str
    language: str
    definition: str | None = None
    parents: tuple[str, ...] = ()
    status: str = ACTIVE
    replaced_by: tuple[str, ...] = ()
    not_selectable: bool = False
    designations: tuple[Designation, ...] = ()
    properties: tuple[PropertyValue, ...] = ()
    #: Published sources for this concept (citations or URLs), beyond its scheme's.
    sources: tuple[str, ...] = ()
    note: str | None = None
    #: True when the code was named by this project (a local tool without official codes).
    code_assigned: bool = False

    @property
    def active(self) -> bool:
        """True unless retired; a deprecated concept is still active in FHIR's sense."""
        return self.status != RETIRED

    def label(self, language: str | None = None) -> str:
        """The label in ``language`` if the concept has one, else its display."""
        if language and not language_matches(self.language, language):
            for d in self.designations:
                if d.language and language_matches(d.language, language):
                    return d.value
        return self.display


@dataclass(frozen=True, slots=True)
class SchemeVersion:
    """One release of a scheme (a FHIR CodeSystem version) and where it came from."""

    scheme: str
    system: str
    version: str
    iri: str
    scheme_iri: str
    name: str
    title: str | None = None
    description: str | None = None
    status: str = ACTIVE
    language: str = "da"
    case_sensitive: bool = True
    hierarchy_meaning: str | None = None
    content: str = "complete"
    publisher: str | None = None
    fhir_id: str | None = None
    source: str | None = None
    source_sha256: str | None = None
    property_defs: tuple[PropertyDef, ...] = field(default=())
    #: Published sources of the content (citations or URLs), in sorted order.
    references: tuple[str, ...] = ()
    #: The period the content applies in law or practice (ISO dates), e.g. SEL §50 until 2023-12-31.
    valid_from: str | None = None
    valid_to: str | None = None
    #: True when this project assigned the codes (the tool has no official ones).
    codes_assigned: bool = False
    #: Canonicals (url|version) of the supplements laid over this release for one request.
    supplements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemeRelease:
    """A release and its concepts, as read from one file."""

    scheme: SchemeVersion
    concepts: tuple[Concept, ...]


def language_matches(have: str, want: str) -> bool:
    """BCP 47 prefix match: ``da`` matches ``da-DK`` and vice versa, case-insensitively."""
    a, b = have.lower(), want.lower()
    return a == b or a.startswith(b + "-") or b.startswith(a + "-")
