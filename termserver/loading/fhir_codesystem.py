"""Read a FHIR R4 (or R5) CodeSystem JSON resource into a :class:`SchemeRelease`.

Every problem is reported with the file and the JSON path of the offending element, and the
whole resource is checked before anything is returned, so callers never see half a code system.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from termserver import iris
from termserver.errors import SourceError
from termserver.loading.json_file import read_json_file
from termserver.model import (
    ACTIVE,
    DEPRECATED,
    RETIRED,
    Concept,
    Designation,
    PropertyDef,
    PropertyValue,
    SchemeRelease,
    SchemeVersion,
)

MAX_DEPTH = 64  # deeper nesting than any real code system; stops runaway recursion on hostile input
_VALUE_KEYS = {
    "valueCode": "code",
    "valueCoding": "Coding",
    "valueString": "string",
    "valueInteger": "integer",
    "valueBoolean": "boolean",
    "valueDateTime": "dateTime",
    "valueDecimal": "decimal",
}
_REPLACED_BY = {"replacedBy", "replaced-by", "replacedby", "replaced_by"}
# Properties turned into first-class fields (hierarchy, status); all others are kept as they are.
_CONSUMED = {"parent", "child", "status", "inactive", "notSelectable"} | _REPLACED_BY
_SCHEME_ID = re.compile(r"[^a-z0-9]+")
_EXT = "http://hl7.org/fhir/StructureDefinition/"
#: Concept extensions kept with the concept, as property values whose code is the extension's
#: URL (an absolute URL never clashes with a declared property code). FHIR R5 reports the first
#: four as concept properties and the rendering ones on expansion entries; other extensions are
#: ignored, as FHIR allows for extensions a server does not know.
#: A concept's own ``status`` property value as a client's CodeSystem gives it (``retired``,
#: ``deprecated`` ...), kept beside the status our model folds it into, by the overlay
#: (:func:`termserver.fhir.overlay.with_status_as_given`): R5 expansions report it.
STATUS_AS_GIVEN = "http://hl7.org/fhir/concept-properties#status"
CONCEPT_EXTENSIONS = frozenset(
    _EXT + name
    for name in (
        "codesystem-conceptOrder",
        "codesystem-label",
        "itemWeight",
        "structuredefinition-standards-status",
        "rendering-style",
        "rendering-xhtml",
    )
) | {STATUS_AS_GIVEN}
#: Designation extensions kept with the designation (:attr:`Designation.extensions`): FHIR R5
#: expansions carry them onto the entry's designation. Others are ignored, as for concepts.
DESIGNATION_EXTENSIONS = frozenset(
    _EXT + name for name in ("coding-sctdescid", "structuredefinition-standards-status")
)


def read_codesystem_file(
    path: str | Path,
    *,
    scheme_id: str | None = None,
    default_language: str = "da",
    source_name: str | None = None,
) -> SchemeRelease:
    """Parse and check one CodeSystem file; raise :class:`SourceError` naming file and path."""
    path = Path(path)
    name = source_name or path.name
    doc, raw = read_json_file(path, name)
    return read_codesystem(
        doc,
        source=name,
        scheme_id=scheme_id,
        default_language=default_language,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def read_codesystem(
    doc: Any,
    *,
    source: str = "<input>",
    scheme_id: str | None = None,
    default_language: str = "da",
    sha256: str | None = None,
    unversioned: str | None = None,
) -> SchemeRelease:
    """Turn a parsed CodeSystem resource into a checked :class:`SchemeRelease`.

    A resource without ``version`` is refused unless ``unversioned`` gives the version to file
    it under (FHIR allows unversioned code systems; our own content always has versions).
    """
    return _Reader(source).read(doc, scheme_id, default_language, sha256, unversioned)


def is_extension(pv: PropertyValue) -> bool:
    """True for a concept extension kept as a property value (see :data:`CONCEPT_EXTENSIONS`)."""
    return pv.code in CONCEPT_EXTENSIONS


def default_scheme_id(doc: dict[str, Any]) -> str:
    """A short lowercase id for a code system: its ``id``, else its ``name``."""
    base = str(doc.get("id") or doc.get("name") or "")
    return _SCHEME_ID.sub("-", base.lower()).strip("-")


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> SourceError:
        return SourceError(self.source, path, message)

    def string(self, obj: dict, key: str, path: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.fail(f"{path}.{key}", "required element is missing")
            return None
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"must be a string, got {_kind(value)}")
        if required and not value.strip():
            raise self.fail(f"{path}.{key}", "must not be empty")
        return value

    def array(self, obj: dict, key: str, path: str) -> list:
        value = obj.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", f"must be an array, got {_kind(value)}")
        return value

    def read(
        self,
        doc: Any,
        scheme_id: str | None,
        default_language: str,
        sha256: str | None,
        unversioned: str | None = None,
    ) -> SchemeRelease:
        if not isinstance(doc, dict):
            raise self.fail("$", f"expected a JSON object (a CodeSystem), got {_kind(doc)}")
        rtype = doc.get("resourceType")
        if rtype != "CodeSystem":
            raise self.fail("$.resourceType", f"expected 'CodeSystem', got {rtype!r}")
        system = self.string(doc, "url", "$", required=True)
        version = self.string(doc, "version", "$", required=unversioned is None)
        if version is None:
            version = unversioned or ""
        else:
            _check_version(self, version)
        sid = scheme_id or default_scheme_id(doc)
        if not sid or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", sid):
            raise self.fail("$.id", f"cannot derive a scheme id from {sid!r}; give one explicitly")
        language = self.string(doc, "language", "$") or default_language
        case_sensitive = doc.get("caseSensitive", True)
        if not isinstance(case_sensitive, bool):
            raise self.fail("$.caseSensitive", "must be true or false")
        property_defs = self.property_defs(doc)
        self.sid, self.system, self.version, self.language = sid, system, version, language
        self.declared = {p.code for p in property_defs}

        flat: dict[str, dict] = {}
        order: list[str] = []
        self.walk(self.array(doc, "concept", "$"), "$.concept", None, flat, order, 0)
        concepts = self.finish(flat, order)
        scheme = SchemeVersion(
            scheme=sid,
            system=system,
            version=version,
            iri=iris.scheme_version_iri(sid, version),
            scheme_iri=iris.scheme_iri(sid),
            name=self.string(doc, "name", "$") or sid,
            title=self.string(doc, "title", "$"),
            description=self.string(doc, "description", "$"),
            status=self.string(doc, "status", "$") or ACTIVE,
            language=language,
            case_sensitive=case_sensitive,
            hierarchy_meaning=self.string(doc, "hierarchyMeaning", "$"),
            content=self.string(doc, "content", "$") or "complete",
            publisher=self.string(doc, "publisher", "$"),
            fhir_id=self.string(doc, "id", "$"),
            source=self.source,
            source_sha256=sha256,
            property_defs=property_defs,
        )
        return SchemeRelease(scheme=scheme, concepts=concepts)

    def property_defs(self, doc: dict) -> tuple[PropertyDef, ...]:
        defs = []
        seen = set()
        for i, p in enumerate(self.array(doc, "property", "$")):
            path = f"$.property[{i}]"
            if not isinstance(p, dict):
                raise self.fail(path, f"must be an object, got {_kind(p)}")
            code = self.string(p, "code", path, required=True)
            if code in seen:
                raise self.fail(f"{path}.code", f"property {code!r} is declared twice")
            seen.add(code)
            ptype = self.string(p, "type", path, required=True)
            if ptype not in set(_VALUE_KEYS.values()):
                raise self.fail(f"{path}.type", f"unknown property type {ptype!r}")
            defs.append(
                PropertyDef(
                    code=code,
                    type=ptype,
                    uri=self.string(p, "uri", path),
                    description=self.string(p, "description", path),
                )
            )
        return tuple(defs)

    def walk(
        self,
        items: list,
        path: str,
        parent: str | None,
        flat: dict[str, dict],
        order: list[str],
        depth: int,
    ) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(path, f"concepts nested more than {MAX_DEPTH} levels deep")
        for i, c in enumerate(items):
            cpath = f"{path}[{i}]"
            if not isinstance(c, dict):
                raise self.fail(cpath, f"must be an object, got {_kind(c)}")
            code = self.string(c, "code", cpath, required=True)
            if code in flat:
                first = flat[code]["path"]
                raise self.fail(f"{cpath}.code", f"code {code!r} occurs twice (first at {first})")
            display = self.string(c, "display", cpath)
            definition = self.string(c, "definition", cpath)
            entry = {
                "path": cpath,
                "display": display if display is not None else code,
                "definition": definition,
                "parents": [parent] if parent else [],
                "designations": self.designations(c, cpath),
                "props": self.property_values(c, cpath) + self.extensions(c, cpath),
            }
            flat[code] = entry
            order.append(code)
            self.walk(
                self.array(c, "concept", cpath), f"{cpath}.concept", code, flat, order, depth + 1
            )

    def designations(self, c: dict, cpath: str) -> tuple[Designation, ...]:
        out = []
        for j, d in enumerate(self.array(c, "designation", cpath)):
            dpath = f"{cpath}.designation[{j}]"
            if not isinstance(d, dict):
                raise self.fail(dpath, f"must be an object, got {_kind(d)}")
            value = self.string(d, "value", dpath, required=True)
            use = d.get("use")
            use_system = use_code = use_display = None
            if use is not None:
                if not isinstance(use, dict):
                    raise self.fail(f"{dpath}.use", "must be a Coding object")
                use_system = self.string(use, "system", f"{dpath}.use")
                use_code = self.string(use, "code", f"{dpath}.use", required=True)
                use_display = self.string(use, "display", f"{dpath}.use")
            out.append(
                Designation(
                    value=value,
                    language=self.string(d, "language", dpath),
                    use_system=use_system,
                    use_code=use_code,
                    use_display=use_display,
                    extensions=self.designation_extensions(d, dpath),
                )
            )
        return tuple(out)

    def designation_extensions(self, d: dict, dpath: str) -> tuple[tuple[str, str, Any], ...]:
        """The designation's :data:`DESIGNATION_EXTENSIONS`: (URL, value[x] key, value)."""
        out = []
        for j, ext in enumerate(self.array(d, "extension", dpath)):
            epath = f"{dpath}.extension[{j}]"
            if not isinstance(ext, dict):
                raise self.fail(epath, f"must be an object, got {_kind(ext)}")
            url = self.string(ext, "url", epath, required=True)
            if url not in DESIGNATION_EXTENSIONS:
                continue
            keys = [k for k in ext if k.startswith("value")]
            if len(keys) != 1 or not isinstance(ext[keys[0]], str | int | float | bool):
                raise self.fail(epath, "needs exactly one primitive value[x]")
            out.append((url, keys[0], ext[keys[0]]))
        return tuple(out)

    def property_values(self, c: dict, cpath: str) -> list[tuple[str, PropertyValue]]:
        out = []
        for j, p in enumerate(self.array(c, "property", cpath)):
            ppath = f"{cpath}.property[{j}]"
            if not isinstance(p, dict):
                raise self.fail(ppath, f"must be an object, got {_kind(p)}")
            code = self.string(p, "code", ppath, required=True)
            keys = [k for k in p if k.startswith("value")]
            if len(keys) != 1 or keys[0] not in _VALUE_KEYS:
                raise self.fail(ppath, f"needs exactly one value[x] of {sorted(_VALUE_KEYS)}")
            key = keys[0]
            out.append(
                (ppath, PropertyValue(code, _VALUE_KEYS[key], self.value(p[key], key, ppath)))
            )
        return out

    def extensions(self, c: dict, cpath: str) -> list[tuple[str, PropertyValue]]:
        """The concept's :data:`CONCEPT_EXTENSIONS`, as property values coded by their URL."""
        out = []
        for j, ext in enumerate(self.array(c, "extension", cpath)):
            epath = f"{cpath}.extension[{j}]"
            if not isinstance(ext, dict):
                raise self.fail(epath, f"must be an object, got {_kind(ext)}")
            url = self.string(ext, "url", epath, required=True)
            if url not in CONCEPT_EXTENSIONS:
                continue
            keys = [k for k in ext if k.startswith("value")]
            if len(keys) != 1 or keys[0] not in _VALUE_KEYS:
                raise self.fail(epath, f"needs exactly one value[x] of {sorted(_VALUE_KEYS)}")
            key = keys[0]
            out.append(
                (epath, PropertyValue(url, _VALUE_KEYS[key], self.value(ext[key], key, epath)))
            )
        return out

    def value(self, v: Any, key: str, ppath: str) -> str | int | bool | float:
        vpath = f"{ppath}.{key}"
        if key == "valueCoding":
            if not isinstance(v, dict) or not isinstance(v.get("code"), str):
                raise self.fail(vpath, "must be a Coding with a code")
            return f"{v.get('system') or ''}|{v['code']}"
        if key == "valueBoolean":
            if not isinstance(v, bool):
                raise self.fail(vpath, "must be true or false")
            return v
        if key == "valueInteger":
            if isinstance(v, bool) or not isinstance(v, int):
                raise self.fail(vpath, "must be an integer")
            return v
        if key == "valueDecimal":
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise self.fail(vpath, "must be a number")
            return float(v)
        if not isinstance(v, str):
            raise self.fail(vpath, f"must be a string, got {_kind(v)}")
        return v

    def finish(self, flat: dict[str, dict], order: list[str]) -> tuple[Concept, ...]:
        # Property-based hierarchy (parent/child) and replacement refer to codes anywhere in the
        # resource, so they are resolved after the whole tree has been read.
        for code in order:
            entry = flat[code]
            for ppath, pv in entry["props"]:
                if pv.code in ("parent", "child"):
                    target = str(pv.value).split("|")[-1]
                    if target not in flat:
                        raise self.fail(ppath, f"{pv.code} {target!r} is not a code in this system")
                    if pv.code == "parent":
                        _append(entry["parents"], target)
                    else:
                        _append(flat[target]["parents"], code)
        concepts = []
        for code in order:
            entry = flat[code]
            status, not_selectable, replaced_by, kept = ACTIVE, False, [], []
            for ppath, pv in entry["props"]:
                if pv.code == "status":
                    status = _status_from_code(str(pv.value), status)
                elif pv.code == "inactive":
                    if pv.value is True:
                        status = RETIRED
                elif pv.code == "notSelectable":
                    not_selectable = pv.value is True
                elif pv.code in _REPLACED_BY:
                    target = str(pv.value).split("|")[-1]
                    if target not in flat:
                        raise self.fail(
                            ppath, f"replacement {target!r} is not a code in this system"
                        )
                    replaced_by.append(target)
                elif pv.code not in _CONSUMED:
                    if pv.code == "deprecated" and status == ACTIVE:
                        status = DEPRECATED
                    if pv.code == "retirementDate":
                        status = RETIRED
                    kept.append(pv)
            designations = sorted(
                entry["designations"],
                key=lambda d: (d.use_system or "", d.use_code or "", d.language or "", d.value),
            )
            kept.sort(key=lambda v: (v.code, str(v.value)))
            concepts.append(
                Concept(
                    scheme=self.sid,
                    system=self.system,
                    version=self.version,
                    code=code,
                    iri=iris.concept_iri(self.sid, code),
                    display=entry["display"],
                    language=self.language,
                    definition=entry["definition"],
                    parents=tuple(sorted(entry["parents"])),
                    status=status,
                    replaced_by=tuple(sorted(replaced_by)),
                    not_selectable=not_selectable,
                    designations=tuple(designations),
                    properties=tuple(kept),
                )
            )
        concepts.sort(key=lambda c: c.code)
        return tuple(concepts)


MAX_VERSION_CHARS = 64


def _check_version(reader: _Reader, version: str) -> None:
    """A version becomes part of a file name and an IRI: printable, short, no path separators."""
    if len(version) > MAX_VERSION_CHARS:
        raise reader.fail(
            "$.version", f"version is {len(version)} characters; at most {MAX_VERSION_CHARS}"
        )
    if not version.isprintable() or "/" in version or "\\" in version or version.strip() != version:
        raise reader.fail(
            "$.version",
            f"unusable version {version!r} (printable characters only; no '/', '\\' or "
            "surrounding spaces)",
        )


def _status_from_code(value: str, current: str) -> str:
    v = value.lower()
    if v in ("retired", "inactive"):
        return RETIRED
    if v == "deprecated":
        return DEPRECATED if current != RETIRED else current
    return current


def _append(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


#: Concepts a supplement may name: more would be a hostile request, not a real supplement.
MAX_SUPPLEMENT_CONCEPTS = 100_000


def read_supplement_content(
    doc: dict[str, Any], source: str
) -> tuple[tuple[PropertyDef, ...], dict[str, tuple[tuple[Designation, ...], list[PropertyValue]]]]:
    """A supplement CodeSystem's declared properties and, per code, its designations and
    property values (checked like a code system's; errors name the JSON path)."""
    reader = _Reader(source)
    defs = reader.property_defs(doc)
    additions: dict[str, tuple[tuple[Designation, ...], list[PropertyValue]]] = {}
    pending = [(c, f"$.concept[{i}]") for i, c in enumerate(reader.array(doc, "concept", "$"))]
    while pending:
        c, cpath = pending.pop()
        if not isinstance(c, dict):
            raise reader.fail(cpath, f"must be an object, got {_kind(c)}")
        code = reader.string(c, "code", cpath, required=True)
        values = [pv for _, pv in reader.property_values(c, cpath) + reader.extensions(c, cpath)]
        additions[code] = (reader.designations(c, cpath), values)
        if len(additions) > MAX_SUPPLEMENT_CONCEPTS:
            raise reader.fail(cpath, f"more than {MAX_SUPPLEMENT_CONCEPTS} concepts")
        children = reader.array(c, "concept", cpath)
        pending += [(k, f"{cpath}.concept[{j}]") for j, k in enumerate(children)]
    return defs, additions
