"""Concept and scheme IRIs resolve, in the format the client asks for."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from conftest import EGENOMSORG, VASKE_SIG
from rdflib import Graph, URIRef
from rdflib.namespace import SKOS
from test_fhir_hostile import SLASH_CODE, open_slice_client

from termserver.formats import BY_MEDIA_TYPE, negotiate

IRI = f"https://w3id.org/ffb-termserver/ffb/{VASKE_SIG}"
PATH = f"/id/ffb/{VASKE_SIG}"
slice_client = pytest.fixture(scope="module", name="slice_client")(open_slice_client)


@pytest.mark.parametrize(
    ("accept", "rdflib_format"),
    [
        ("text/turtle", "turtle"),
        ("application/ld+json", "json-ld"),
        ("application/rdf+xml", "xml"),
        ("application/n-triples", "nt"),
    ],
)
def test_concept_iri_gives_parseable_rdf_by_accept_header(client, accept, rdflib_format):
    r = client.get(PATH, headers={"accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(accept)
    g = Graph().parse(data=r.content, format=rdflib_format)
    labels = {str(o) for o in g.objects(URIRef(IRI), SKOS.prefLabel)}
    assert labels == {"Vaske sig"}


def test_concept_iri_gives_an_html_page_to_browsers(client):
    r = client.get(PATH, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.headers["content-type"].startswith("text/html")
    assert "Vaske sig" in r.text and "Egenomsorg" in r.text and 'lang="da"' in r.text


def test_format_parameter_overrides_accept_and_json_is_the_api_shape(client):
    r = client.get(PATH, params={"format": "json"}, headers={"accept": "text/html"})
    assert json.loads(r.content)["code"] == VASKE_SIG


def test_old_release_of_a_concept_resolves_with_version(client):
    r = client.get("/id/ffb/af7624f8-affd-4a7e-8754-b1b1dd9d8def?version=20200908&format=nt")
    assert '"Ydelse\xa0\xa0"@da' in r.text


def test_scheme_iri_resolves(client):
    r = client.get("/id/ffb", headers={"accept": "text/turtle"})
    g = Graph().parse(data=r.content, format="turtle")
    assert (URIRef("https://w3id.org/ffb-termserver/ffb/version/20240530"), None, None) in g
    assert (
        client.get("/id/ffb/version/20200908", params={"format": "json"}).json()["version"]
        == "20200908"
    )


def test_unknown_iri_is_404_and_unacceptable_format_is_406(client):
    assert client.get("/id/ffb/nope").status_code == 404
    assert client.get("/id/nope").status_code == 404
    assert client.get(PATH, headers={"accept": "image/png"}).status_code == 406
    assert client.get(PATH, params={"format": "exe"}).status_code == 400


def test_html_page_escapes_content(slice_client):
    # Egenomsorg's label holds a <script> element in the test vocabulary; Vaske sig's page shows
    # it in the path to the top, Egenomsorg's own page in the title and heading.
    for code in (VASKE_SIG, EGENOMSORG):
        r = slice_client.get(f"/id/testslice/{code}", headers={"accept": "text/html"})
        assert r.status_code == 200
        assert "<script" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_a_code_with_a_slash_resolves_and_is_linked_as_one_segment(slice_client):
    quoted = quote(SLASH_CODE, safe="")
    r = slice_client.get(f"/id/testslice/{quoted}", params={"format": "json"})
    assert r.status_code == 200 and r.json()["code"] == SLASH_CODE
    parent = slice_client.get("/id/testslice/d1495b2c-1452-4e49-8dbe-8193af5d8823")
    assert f'href="/id/testslice/{quoted}"' in parent.text


def test_not_acceptable_body_has_no_empty_where(client):
    r = client.get(PATH, headers={"accept": "image/png"})
    assert r.status_code == 406
    assert set(r.json()) == {"error", "message"}


def test_negotiation_honours_q_values():
    assert negotiate("text/html;q=0.5, text/turtle") is BY_MEDIA_TYPE["text/turtle"]
    assert negotiate("application/rdf+xml, */*") is BY_MEDIA_TYPE["application/rdf+xml"]
    assert negotiate("image/png") is None
    assert negotiate(None) is BY_MEDIA_TYPE["text/html"]
