"""The Danish web pages, rendered by the app without a browser: content, escaping, accessibility."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import EGENOMSORG, FFB, FFB_TILSTANDE, VASKE_SIG
from markupsafe import escape

from termserver.mappings import short_name

SOCIAL_INDSATS = "67b4ac73-dedf-4337-ad56-476b0a55ab03"
RELATIONER = "3856b434-f72e-42a5-b9d1-0cc93f48434b"

PAGES = [
    "/",
    "/soeg?q=vasek",
    "/soeg?q=vaske+sig&skema=fsiii&status=active&alle=1",
    f"/begreb/ffb/{VASKE_SIG}",
    f"/begreb/ffb/{VASKE_SIG}?udgave=20200908",
    "/begreb/vum-1/socialt-liv",
    "/skema",
    "/skema/ffb",
    f"/skema/ffb?aaben={VASKE_SIG}",
    "/skema/ffb?udgave=20200908",
    "/skema/fsiii",
    "/mappinger",
    "/mappinger/vum-1--ffb",
    "/mappinger/vum-2--ffb?side=2",
    "/oversaet",
    "/oversaet?skema=vum-1&kode=socialt-liv",
    "/oversaet?skema=fsiii&term=vaske",
    "/begreb/ffb/findes-ikke",
    "/valider",
    "/valider?eksempel=plan-bundle.json",
]


class Page(HTMLParser):
    """Collects what the accessibility checks need from one page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = None
        self.h1 = 0
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.fields: list[dict] = []
        self.tags: list[str] = []
        self.links: list[str] = []
        self.scripts: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label" and "for" in a:
            self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea") and a.get("type") not in (
            "hidden",
            "submit",
            "button",
        ):
            self.fields.append(a)
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "script":
            self.scripts.append(a)


def page(client, url: str, status: int = 200) -> tuple[str, Page]:
    r = client.get(url)
    assert r.status_code == status, (url, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    return r.text, Page(r.text)


@pytest.mark.parametrize("url", PAGES)
def test_every_page_is_danish_accessible_html(client, url):
    _, p = page(client, url, 404 if "findes-ikke" in url else 200)
    assert p.lang == "da"
    assert p.h1 == 1
    for landmark in ("header", "nav", "main", "footer"):
        assert landmark in p.tags, landmark
    assert p.links[0] == "#indhold" and "indhold" in p.ids  # the skip link comes first
    assert len(p.ids) == len(set(p.ids)), "duplicate ids"
    for field in p.fields:
        labelled = field.get("id") in p.label_for or field.get("aria-label")
        assert labelled, f"unlabelled field {field}"
    # JavaScript only enhances: the one script is the deferred htmx file.
    assert [s.get("src", "").split("?")[0] for s in p.scripts] == ["/static/htmx.min.js"]
    assert all("defer" in s for s in p.scripts)


def test_front_page_offers_search_and_every_scheme(client, vocab):
    html, _ = page(client, "/")
    assert 'action="/soeg"' in html and 'id="q-forside"' in html
    for meta in vocab.schemes():
        assert f'href="/skema/{meta.scheme}"' in html
        assert escape(meta.title or meta.name) in html


def test_typo_search_finds_vaske_sig_in_ffb_before_fsiii(client):
    html, _ = page(client, "/soeg?q=vasek")
    ffb = html.index(f'href="/begreb/ffb/{VASKE_SIG}"')
    assert ffb < html.index('href="/begreb/fsiii/')
    assert "FFB tilstande › Aktivitet og deltagelse › Egenomsorg" in html


def test_search_filters_by_scheme_and_status(client):
    html, _ = page(client, "/soeg?q=vaske+sig&skema=fsiii")
    assert "/begreb/fsiii/" in html and "/begreb/ffb/" not in html
    html, _ = page(client, "/soeg?q=vaske+sig&skema=ffb&status=active")
    assert f"/begreb/ffb/{VASKE_SIG}" in html
    html, _ = page(client, "/soeg?q=vaske+sig&skema=ffb&status=retired")
    assert f"/begreb/ffb/{VASKE_SIG}" not in html
    assert "Ingen begreber matcher" in html


def test_search_in_older_releases_links_the_release(client):
    html, _ = page(client, "/soeg?q=Social+indsats+Servicelov&skema=ffb&alle=1")
    assert f"/begreb/ffb/{SOCIAL_INDSATS}?udgave=20230517" in html


def test_search_names_an_unknown_scheme_filter_and_searches_all(client):
    html, _ = page(client, "/soeg?q=vasek&skema=findes-ikke")
    assert "Skemaet »findes-ikke« findes ikke" in html
    assert f"/begreb/ffb/{VASKE_SIG}" in html


def test_suggestions_are_a_fragment_with_scheme_and_parent(client):
    r = client.get("/soeg/forslag", params={"q": "vasek"})
    assert r.status_code == 200 and "<html" not in r.text
    first = r.text.index("<li>")
    assert f'href="/begreb/ffb/{VASKE_SIG}"' in r.text[first : first + 300]
    assert "FFB · Egenomsorg" in r.text
    assert "Alle resultater for »vasek«" in r.text
    assert client.get("/soeg/forslag", params={"q": "v"}).text.strip() == ""


def test_concept_page_shows_where_vaske_sig_sits_and_what_it_maps_to(client, vocab):
    html, _ = page(client, f"/begreb/ffb/{VASKE_SIG}")
    crumbs = html[html.index('class="crumbs"') : html.index("</nav>", html.index('class="crumbs"'))]
    names = re.findall(r">([^<>]+)</a>", crumbs)
    assert names == ["FFB", "FFB tilstande", "Aktivitet og deltagelse", "Egenomsorg"]
    assert f'href="/begreb/ffb/{EGENOMSORG}"' in crumbs
    assert vocab.get(FFB, VASKE_SIG).definition in html
    # The FSIII row maps an FSIII "Vaske sig" onto this one; it is shown with its provenance.
    assert 'href="/mappinger/fsiii--ffb"' in html and "foreslået" in html
    assert "semapv:ManualMappingCuration" in html  # the SSSOM justification
    assert "KLConditionADCodesFFB" in html
    for version in ("20240530", "20230517", "20200908"):
        assert f"/begreb/ffb/{VASKE_SIG}?udgave={version}" in html


def test_concept_page_links_to_working_turtle_json_and_fhir_forms(client):
    _, p = page(client, f"/begreb/ffb/{VASKE_SIG}")
    wanted = {
        "format=ttl": "text/turtle",
        "format=jsonld": "application/ld+json",
        "/api/concept?": "application/json",
        "$lookup": "application/fhir+json",
    }
    for marker, media_type in wanted.items():
        href = next(h for h in p.links if marker in h)
        r = client.get(href)
        assert r.status_code == 200, href
        assert r.headers["content-type"].startswith(media_type), href
        assert "Vaske sig" in r.text, href


def test_concept_history_shows_a_label_change_between_releases(client):
    html, _ = page(client, f"/begreb/ffb/{SOCIAL_INDSATS}")
    assert "Betegnelse ændret fra »Social indsats [Servicelov]« til »Social indsats«" in html
    assert "Betegnelse ændret fra »Social indsats« til »Social indsats [Servicelov]«" in html
    assert "Første udgave med begrebet" in html


def test_older_release_of_a_concept_says_so_and_links_the_newest(client):
    html, _ = page(client, f"/begreb/ffb/{SOCIAL_INDSATS}?udgave=20230517")
    assert "<h1" in html and "Social indsats [Servicelov]" in html
    assert "Du ser udgave 20230517" in html
    assert f'href="/begreb/ffb/{SOCIAL_INDSATS}">Se nyeste udgave' in html


def test_local_tool_concept_shows_its_mapping_to_ffb(client):
    html, _ = page(client, "/begreb/vum-1/socialt-liv")
    assert f'href="/begreb/ffb/{RELATIONER}"' in html
    assert "closeMatch" in html and 'href="/mappinger/vum-1--ffb"' in html
    assert "tildelt af dette projekt" in html


def test_labels_and_queries_are_html_escaped(vocab):
    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.api.state import Snapshot
    from termserver.model import SchemeRelease
    from termserver.vocabulary import Vocabulary

    # The real FFB release with one label turned hostile: it must come out as text.
    hostile = '<script>alert("x")</script> & Vaske sig'
    concepts = tuple(
        dataclasses.replace(c, display=hostile) if c.code == VASKE_SIG else c
        for c in vocab.concepts(FFB)
    )
    small = Vocabulary([SchemeRelease(vocab.release(FFB), concepts)])
    with TestClient(create_app(Snapshot(vocab=small, release="test"))) as c:
        for url in (f"/begreb/ffb/{VASKE_SIG}", "/soeg?q=vaske", f"/begreb/ffb/{EGENOMSORG}"):
            html = c.get(url).text
            assert "<script>alert" not in html, url
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Vaske sig" in html, url
        html = c.get("/soeg", params={"q": '"><img src=x onerror=alert(1)>'}).text
        assert "<img src=x" not in html and "&lt;img src=x" in html


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/begreb/ffb/findes-ikke", "Begrebet med koden »findes-ikke« findes ikke i FFB."),
        ("/begreb/ffb/" + VASKE_SIG + "?udgave=1999", "Skemaet »ffb« har ingen udgave »1999«"),
        ("/skema/findes-ikke", "Skemaet »findes-ikke« findes ikke."),
        ("/mappinger/findes-ikke", "Mappingsættet »findes-ikke« findes ikke."),
        ("/skema/ffb/under?kode=findes-ikke", "Koden »findes-ikke« findes ikke i FFB."),
    ],
)
def test_unknown_things_get_a_danish_404_page(client, url, message):
    html, p = page(client, url, 404)
    assert "Siden findes ikke" in html and message in html
    assert p.lang == "da"


def test_scheme_tree_loads_children_lazily_and_has_a_no_script_fallback(client, vocab):
    html, _ = page(client, "/skema/ffb")
    tops = [c for c in vocab.concepts(FFB) if not c.parents]
    for top in tops:
        assert f'href="/begreb/ffb/{top.code}"' in html
        assert f'hx-get="/skema/ffb/under?kode={top.code}"' in html
        assert f'href="/skema/ffb?aaben={top.code}#n-{top.code}"' in html
    assert "Vaske sig" not in html  # deeper levels wait until asked for
    fragment = client.get("/skema/ffb/under", params={"kode": EGENOMSORG}).text
    assert "<html" not in fragment and f'href="/begreb/ffb/{VASKE_SIG}"' in fragment
    kids = vocab.children(vocab.get(FFB, EGENOMSORG))
    assert fragment.count("<li") == len(kids)


def test_scheme_tree_opens_along_the_path_to_a_concept_without_javascript(client):
    html, _ = page(client, f"/skema/ffb?aaben={VASKE_SIG}")
    assert html.count("<details open>") == 3  # FFB tilstande › Aktivitet og deltagelse › Egenomsorg
    assert f'class="leaf current" href="/begreb/ffb/{VASKE_SIG}" aria-current="true"' in html


def test_small_tool_tree_is_open_whole_and_cites_its_sources_as_links(client, vocab):
    html, _ = page(client, "/skema/vum-1")
    for c in vocab.concepts(vocab.system_of("vum-1")):
        assert f'href="/begreb/vum-1/{c.code}"' in html
    assert "hx-get" not in html.split('class="tree"')[1]
    assert '<a href="https://www.sbst.dk/udgivelser/2013/vum">' in html


def test_older_scheme_release_tree_stays_in_that_release(client):
    html, _ = page(client, "/skema/ffb?udgave=20200908")
    assert f'href="/begreb/ffb/{FFB_TILSTANDE}?udgave=20200908"' in html
    assert f"under?kode={FFB_TILSTANDE}&amp;udgave=20200908" in html
    r = client.get("/skema/ffb/under", params={"kode": FFB_TILSTANDE, "udgave": "20200908"})
    # 20200908 still calls it "Omgivelsesfaktorer" (renamed "Omgivelser" later).
    assert "Omgivelsesfaktorer" in r.text and "?udgave=20200908" in r.text


def _rows_shown(html: str) -> int:
    return len(re.findall(r'<td class="num">\d+</td>', html))


@pytest.mark.parametrize(
    ("set_id", "params", "keep"),
    [
        (
            "vum-1--ffb",
            {"relation": "narrowMatch"},
            lambda m: short_name(m.predicate) == "narrowMatch",
        ),
        ("vum-1--ffb", {"status": "published"}, lambda m: m.status == "published"),
        ("vum-1--ffb", {"status": "proposed"}, lambda m: m.status == "proposed"),
        (
            "forandringskompas-misbrug--ffb",
            {"sikkerhed": "0.6"},
            lambda m: m.confidence is not None and m.confidence >= 0.6,
        ),
        (
            "forandringskompas-plejetilbud--ffb",
            {"sikkerhed": "ingen"},
            lambda m: m.confidence is None,
        ),
    ],
)
def test_mapping_set_table_filters_rows(client, set_id, params, keep):
    ms = client.app.state.holder.current.translator.mapping_set(set_id)
    expected = [m for m in ms.mappings if keep(m)]
    html, _ = page(
        client, f"/mappinger/{set_id}?" + "&".join(f"{k}={v}" for k, v in params.items())
    )
    assert f"{len(expected)} af {len(ms.mappings)} rækker" in html
    assert _rows_shown(html) == min(len(expected), 50)
    for value in params.values():
        assert f'value="{value}" selected' in html


def test_mapping_set_pages_rows_server_side(client):
    ms = client.app.state.holder.current.translator.mapping_set("vum-2--ffb")
    assert len(ms.mappings) > 50
    first, _ = page(client, "/mappinger/vum-2--ffb")
    second, _ = page(client, "/mappinger/vum-2--ffb?side=2")
    assert _rows_shown(first) == 50 and _rows_shown(second) == len(ms.mappings) - 50
    assert 'href="/mappinger/vum-2--ffb?side=2"' in first
    last, _ = page(client, "/mappinger/vum-2--ffb?side=abc")  # a mangled link: first page
    assert _rows_shown(last) == 50


def test_mapping_set_shows_coverage_of_the_local_tool(client, vocab):
    translator = client.app.state.holder.current.translator
    system = vocab.system_of("ics")
    items = {c.code for c in vocab.concepts(system) if not c.not_selectable}
    touched = {
        code
        for ms in translator.mapping_sets
        for m in ms.mappings
        for sys_, code in (m.subject, m.object)
        if sys_ == system
    }
    unmapped = items - touched
    assert unmapped and touched
    html, _ = page(client, "/mappinger/ics--ffb")
    assert f"{len(items) - len(unmapped)} af {len(items)} punkter i" in html
    assert f"Ikke mappet ({len(unmapped)})" in html
    for code in unmapped:
        assert f'href="/begreb/ics/{code}"' in html
    listing, _ = page(client, "/mappinger")
    assert f"{len(items) - len(unmapped)} af {len(items)} punkter" in listing
    assert "ikke et lokalt redskab" in listing  # VUM 2.0 = FFB: no tool of its own


def test_translate_vum_socialt_liv_shows_ffb_relationer_and_the_path(client):
    translator = client.app.state.holder.current.translator
    [best] = [
        t
        for t in translator.translate("vum-1", "socialt-liv", target_system=FFB)
        if t.code == RELATIONER
    ]
    html, _ = page(client, "/oversaet?skema=vum-1&kode=socialt-liv")
    assert f'href="/begreb/ffb/{RELATIONER}">Relationer</a>' in html
    assert f"linje {best.path[0].mapping.line}" in html and 'href="/mappinger/vum-1--ffb"' in html
    assert '<option value="socialt-liv" selected>' in html
    wider, _ = page(client, "/oversaet?skema=vum-1&kode=socialt-liv&maal=alle")
    assert "forandringskompas-plejetilbud--ffb" in wider  # chained through FFB


def test_translate_by_typed_term_and_by_ambiguous_term(client):
    html, _ = page(client, "/oversaet?skema=vum-1&term=socialt+liv")
    assert f'href="/begreb/ffb/{RELATIONER}">Relationer</a>' in html
    html, _ = page(client, "/oversaet?skema=fsiii&term=vaske")
    assert "Flere termer matcher »vaske«" in html
    assert "/oversaet?skema=fsiii&amp;kode=" in html


def test_translate_term_choice_fragment_lists_the_tools_terms(client, vocab):
    r = client.get("/oversaet/termer", params={"skema": "vum-1"})
    assert "<html" not in r.text
    system = vocab.system_of("vum-1")
    assert r.text.count("<option value=") == 1 + sum(1 for _ in vocab.concepts(system))
    assert '<label for="kode">' in r.text and '<label for="term">' in r.text


def test_translate_tells_what_is_wrong_with_a_bad_choice(client):
    html, _ = page(client, "/oversaet?skema=ffb")
    assert "»ffb« er ikke et redskab med mappinger." in html
    html, _ = page(client, "/oversaet?skema=vum-1&kode=findes-ikke")
    assert "Koden »findes-ikke« findes ikke i Voksenudredningsmetoden (VUM) 1.0." in html


def test_static_assets_are_small_and_htmx_ships_with_its_license(client):
    css = client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert len(css.content) < 16_000
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and b"htmx" in js.content[:200] and len(js.content) < 80_000
    assert "Zero-Clause BSD" in client.get("/static/htmx.LICENSE").text


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_every_text_colour_pair_has_wcag_aa_contrast(client):
    css = client.get("/static/site.css").text
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [name[:-3] for name in colours if name.endswith("-fg")]
    assert len(pairs) >= 8
    for name in pairs:
        fg, bg = _luminance(colours[f"{name}-fg"]), _luminance(colours[f"{name}-bg"])
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        assert ratio >= 4.5, f"{name}: {ratio:.2f}"
    # Colours are only ever used through those variables (plus the border line colour).
    body = css[css.index("}") :]
    assert not re.findall(r"#[0-9a-fA-F]{3,6}\b", body)


def test_search_query_is_capped(client):
    html, _ = page(client, "/soeg?q=" + quote("vasek " * 100))
    assert ("vasek " * 100)[:200].strip() in html and ("vasek " * 100)[:210] not in html


# --- the validate page -------------------------------------------------------------------------

LAVE_MAD = "b947f321-7cdb-4b33-9653-f3ff800572b0"
EXAMPLE_PLANS = Path(__file__).resolve().parent.parent / "examples" / "plans"


def _example(name: str) -> str:
    return (EXAMPLE_PLANS / name).read_text("utf-8")


def test_validate_page_finds_a_mistyped_code_in_pasted_yaml_and_shows_its_line(client):
    broken = _example("borgerens-plan.yaml").replace(LAVE_MAD, LAVE_MAD[:-1])
    line = next(n for n, s in enumerate(broken.splitlines(), 1) if LAVE_MAD[:-1] in s)
    r = client.post("/valider", data={"plan": broken})
    assert r.status_code == 200
    html = r.text
    assert "<strong>Ugyldig</strong>" in html and "1 fejl" in html
    assert f"koden &#39;{LAVE_MAD[:-1]}&#39; findes ikke" in html
    assert '<code class="where">$.conditions[0].code.code</code>' in html
    assert f'<a href="#linje-{line}">linje {line}</a>' in html
    assert f'<span id="linje-{line}" class="line mark-error">' in html
    assert f'<span class="ln">{line}</span>' in html.split('class="quote"')[1].split("</pre>")[0]


def test_validate_page_reads_an_uploaded_fhir_bundle_and_gives_the_fhirpath(client):
    broken = _example("plan-bundle.json").replace(LAVE_MAD, LAVE_MAD[:-1])
    line = next(n for n, s in enumerate(broken.splitlines(), 1) if LAVE_MAD[:-1] in s)
    r = client.post("/valider", files={"fil": ("plan.json", broken.encode(), "application/json")})
    assert r.status_code == 200
    assert "Resultat for plan.json" in r.text and "(FHIR Bundle)" in r.text
    where = re.search(r'<code class="where">([^<]+)</code>', r.text).group(1)
    assert where.startswith("Bundle.entry[") and where.endswith(".code.coding[0].code")
    assert f'<a href="#linje-{line}">linje {line}</a>' in r.text


def test_validate_page_says_where_unreadable_input_breaks(client):
    r = client.post("/valider", data={"plan": '{\n  "id": "x",\n  "title": \n}'})
    assert r.status_code == 200
    assert "Planen kan ikke læses" in r.text and "linje 4" in r.text
    assert '<a href="#linje-4">Gå til linje 4</a>' in r.text
    assert '<span id="linje-4" class="line mark-error">' in r.text


def test_validate_page_asks_for_a_plan_when_given_none_and_escapes_what_it_shows(client):
    r = client.post("/valider", data={"plan": "  "})
    assert r.status_code == 400 and "Indsæt en plan" in r.text
    r = client.post("/valider", data={"plan": '{"title": "<script>alert(1)</script>"}'})
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    r = client.get("/valider?eksempel=../pyproject.toml")
    assert "findes ikke" in r.text and "[project]" not in r.text


def test_validate_page_links_example_plans_that_can_be_downloaded_and_prefilled(client):
    html, _ = page(client, "/valider")
    for name in ("borgerens-plan.json", "borgerens-plan.yaml", "plan-bundle.json"):
        assert f'href="/valider?eksempel={name}#plan"' in html
        r = client.get(f"/valider/eksempler/{name}")
        assert r.status_code == 200 and r.content == (EXAMPLE_PLANS / name).read_bytes()
    html, _ = page(client, "/valider?eksempel=borgerens-plan.yaml")
    assert str(escape(_example("borgerens-plan.yaml")[:200])) in html
    assert client.get("/valider/eksempler/findes-ikke.json").status_code == 404
    r = client.post("/valider", data={"plan": _example("borgerens-plan.yaml")})
    assert "<strong>Gyldig</strong>" in r.text and "0 fejl" in r.text


def test_plan_paths_are_walked_to_the_line_also_inside_a_parameters_wrapper():
    from termserver.web.plan_view import compose, find_node, path_steps

    assert path_steps("$.conditions[0]['two words'].code") == ["conditions", 0, "two words", "code"]
    assert path_steps("Bundle.entry[8].resource.code") == ["entry", 8, "resource", "code"]
    # A FHIRPath function stops the walk at the element before it.
    assert path_steps("Bundle.entry[1].extension.where(url='x').value") == [
        "entry", 1, "extension"
    ]  # fmt: skip
    text = (
        '{"resourceType": "Parameters", "parameter": [\n'
        ' {"name": "resource", "resource": {"resourceType": "Bundle", "entry": [\n'
        '  {"resource": {"code": "x"}}]}}]}'
    )
    node, exact = find_node(compose(text), "Bundle.entry[0].resource.code")
    assert exact and node.start_mark.line == 2 and node.value == "x"
    node, exact = find_node(compose(text), "Bundle.entry[5].resource")
    assert not exact and node.start_mark.line == 1  # the nearest element that exists
