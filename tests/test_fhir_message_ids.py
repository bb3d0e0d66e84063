"""R5 issues name their kind by HL7's message id and use HL7's wording, over HTTP.

The ``operationoutcome-message-id`` extension carries the message keys of HL7's validator, as
tx.fhir.org and HAPI give them, so a client can recognise (or suppress) an issue whatever its
text. Fixtures: the suite's own ``simple`` code system and ``simple-all`` value set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = Path(__file__).parent / "data" / "tx-ecosystem" / "tests" / "simple"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
CS = "http://hl7.org/fhir/test/CodeSystem/simple"
VS = "http://hl7.org/fhir/test/ValueSet/simple-all"


def _given() -> list[dict]:
    return [
        {"name": "tx-resource", "resource": json.loads((SUITE / name).read_text("utf-8"))}
        for name in ("codesystem-simple.json", "valueset-all.json")
    ]


def _validate(client, *params: dict, headers: dict | None = None) -> dict[str, dict]:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "url", "valueUri": VS}, *params, *_given()],
    }
    r = client.post("/fhir/r5/ValueSet/$validate-code", json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()["parameter"]}


def _kinds(answer: dict[str, dict]) -> list[tuple[str, str | None, str]]:
    """(tx-issue-type, message id, text) of each issue."""
    out = []
    for issue in answer["issues"]["resource"]["issue"]:
        ids = [e["valueString"] for e in issue.get("extension", []) if e["url"] == MESSAGE_ID]
        assert len(ids) <= 1, issue
        out.append(
            (
                issue["details"]["coding"][0]["code"],
                ids[0] if ids else None,
                issue["details"]["text"],
            )
        )
    return sorted(out)


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        (
            {"system": CS, "code": "code1x"},
            [
                ("invalid-code", "Unknown_Code_in_Version"),
                ("not-in-vs", "None_of_the_provided_codes_are_in_the_value_set_one"),
            ],
        ),
        ({"system": CS, "code": "code2"}, [("code-comment", "INACTIVE_CONCEPT_FOUND")]),
        (
            {"system": CS, "code": "code1", "display": "Display 1X"},
            [("invalid-display", "Display_Name_for__should_be_one_of__instead_of")],
        ),
        (
            {"system": CS, "code": "code1", "display": "Display  1"},
            [("invalid-display", "Display_Name_WS_for__should_be_one_of__instead_of")],
        ),
        (
            {"system": CS + "X", "code": "code1"},
            [
                ("not-found", "UNKNOWN_CODESYSTEM"),
                ("not-in-vs", "None_of_the_provided_codes_are_in_the_value_set_one"),
            ],
        ),
        (
            {"system": CS, "version": "9.9", "code": "code1"},
            [("not-found", "UNKNOWN_CODESYSTEM_VERSION")],
        ),
    ],
)
def test_each_r5_validate_code_issue_names_its_hl7_message_id(client, coding, expected):
    answer = _validate(client, {"name": "coding", "valueCoding": coding})
    assert [(kind, mid) for kind, mid, _ in _kinds(answer)] == expected


def test_an_inactive_concept_with_a_status_of_its_own_is_named_by_both(client):
    answer = _validate(client, {"name": "coding", "valueCoding": {"system": CS, "code": "code2"}})
    [(_, _, text)] = _kinds(answer)
    # code2 carries the status property "retired" in the code system.
    assert (
        text
        == "The concept 'code2' has a status of retired and inactive and its use should be reviewed"
    )
    assert answer["message"]["valueString"] == text


def test_a_display_wrong_only_in_its_spaces_is_called_a_whitespace_error(client):
    coding = {"system": CS, "code": "code1", "display": "Display  1"}
    [(_, _, text)] = _kinds(_validate(client, {"name": "coding", "valueCoding": coding}))
    assert text.startswith("Wrong whitespace in Display Name 'Display  1' for ")
    coding["display"] = "Display 1X"
    [(_, _, text)] = _kinds(_validate(client, {"name": "coding", "valueCoding": coding}))
    assert text.startswith("Wrong Display Name 'Display 1X' for ")


def test_messages_name_the_languages_as_the_request_gave_them(client):
    coding = {"system": CS, "code": "code1", "display": "Display 1X"}
    answer = _validate(
        client,
        {"name": "coding", "valueCoding": coding},
        headers={"Accept-Language": "en, en-AU; q=0.4"},
    )
    [(_, _, text)] = _kinds(answer)
    assert text.endswith("(for the language(s) 'en, en-AU; q=0.4')")
    [(_, _, text)] = _kinds(_validate(client, {"name": "coding", "valueCoding": coding}))
    assert text.endswith("(for the language(s) '--')")


def test_a_codeable_concepts_per_coding_notes_stay_out_of_its_message(client):
    cc = {"coding": [{"system": CS, "version": "0.1.0", "code": "code1x"}]}
    answer = _validate(client, {"name": "codeableConcept", "valueCodeableConcept": cc})
    kinds = _kinds(answer)
    note = next(text for kind, _, text in kinds if kind == "this-code-not-in-vs")
    # The coding is quoted with the version it was given with.
    assert note.startswith(f"The provided code '{CS}|0.1.0#code1x' was not found")
    message = answer["message"]["valueString"]
    assert note not in message
    assert f"No valid coding was found for the value set '{VS}|5.0.0'" in message
    assert ("not-in-vs", "TX_GENERAL_CC_ERROR_MESSAGE") in [(k, m) for k, m, _ in kinds]


def _r5_error(client, operation: str, body: dict, status: int) -> dict:
    r = client.post(f"/fhir/r5/ValueSet/{operation}", json=body)
    assert r.status_code == status, r.text
    [issue] = r.json()["issue"]
    return issue


def test_r5_errors_name_their_message_id_and_r4_errors_keep_their_shape(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": VS + "X"},
            {"name": "code", "valueCode": "code1"},
            {"name": "system", "valueUri": CS},
        ],
    }
    issue = _r5_error(client, "$validate-code", body, 404)
    assert issue["extension"] == [
        {"url": MESSAGE_ID, "valueString": "Unable_to_resolve_value_Set_"}
    ]
    assert issue["details"]["text"] == f"A definition for the value Set '{VS}X' could not be found"
    r4 = client.post("/fhir/ValueSet/$validate-code", json=body)
    assert r4.status_code == 404
    [old] = r4.json()["issue"]
    assert "extension" not in old and "unknown value set" in old["diagnostics"]


def test_a_circular_or_valueless_definition_is_named_by_its_message_id(client):
    circular = {
        "resourceType": "ValueSet",
        "url": "http://example.org/fhir/ValueSet/circular",
        "status": "active",
        "compose": {"include": [{"valueSet": ["#vs1"]}]},
        "contained": [
            {
                "resourceType": "ValueSet",
                "id": "vs1",
                "status": "active",
                "compose": {"include": [{"valueSet": ["#vs2"]}]},
            },
            {
                "resourceType": "ValueSet",
                "id": "vs2",
                "status": "active",
                "compose": {"include": [{"system": CS}, {"valueSet": ["#vs1"]}]},
            },
        ],
    }
    valueless = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": CS, "filter": [{"property": "concept", "op": "is-a"}]}]},
    }
    for vs, message_id in (
        (circular, "VALUESET_CIRCULAR_REFERENCE"),
        (valueless, "UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE"),
    ):
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "valueSet", "resource": vs}, *_given()],
        }
        issue = _r5_error(client, "$expand", body, 400)
        assert issue.get("extension") == [{"url": MESSAGE_ID, "valueString": message_id}], issue
        assert issue["details"]["coding"][0]["code"] == "vs-invalid"
