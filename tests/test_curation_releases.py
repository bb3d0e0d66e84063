"""Releases: immutable directories, past releases still answer, and a publish killed at the worst
moment leaves the previous release intact and current."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["curation_fixtures"]

FFB = "urn:oid:1.2.208.176.2.22"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"


def approved_rename(cur, people, label="Vaske sig og tørre sig"):
    editor, approver = people["ebba"][0], people["anna"][0]
    key = f"concept:ffb/{VASKE_SIG}"
    c = cur.create_change(
        editor,
        "concept.label",
        {"scheme": "ffb", "code": VASKE_SIG, "label": label},
        "Tydeligere betegnelse",
        if_match=cur.target(key).etag,
    )
    c = cur.propose(editor, c.id, c.etag)
    return cur.approve(approver, c.id, c.etag)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("stage", ["written", "renamed"])
def test_publish_killed_before_the_pointer_flips_leaves_the_previous_release_current(
    curation, people, data_dir, stage
):
    change = approved_rename(curation, people)
    token = people["anna"][1]
    before = curation.data.current()
    assert curation.data.verify(before) == []
    curation.close()

    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from termserver.curation.service import Curation

        cur = Curation.open(Path({str(data_dir)!r}))
        user = cur.authenticate({token!r})

        def stage(name):
            if name == {stage!r}:
                os.kill(os.getpid(), signal.SIGKILL)

        cur.publish(user, on_stage=stage)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    from termserver.curation.service import Curation

    cur = Curation.open(data_dir)
    try:
        assert cur.data.current_name() == before.name
        assert cur.data.verify(cur.data.current()) == []
        leftovers = [p.name for p in (data_dir / "releases").iterdir()]
        assert leftovers == [before.name]
        assert cur.change(change.id).status == "approved"
        snap = cur.snapshot()
        assert snap.vocab.get(FFB, VASKE_SIG).display == "Vaske sig"
        # Nothing was lost: the same change publishes on the next try.
        info = cur.publish(cur.authenticate(token))
        assert info.number == before.number + 1
        assert cur.change(change.id).status == "published"
    finally:
        cur.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_publish_killed_after_the_flip_is_recorded_in_the_database_on_next_start(
    curation, people, data_dir
):
    change = approved_rename(curation, people)
    token = people["anna"][1]
    curation.close()
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from termserver.curation.service import Curation

        cur = Curation.open(Path({str(data_dir)!r}))
        def stage(name):
            if name == "current":
                os.kill(os.getpid(), signal.SIGKILL)
        cur.publish(cur.authenticate({token!r}), on_stage=stage)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    from termserver.curation.service import Curation

    cur = Curation.open(data_dir)
    try:
        current = cur.data.current()
        assert current.number == 1 and cur.data.verify(current) == []
        assert cur.change(change.id).status == "published"
        assert cur.change(change.id).release == current.name
        actions = [e.action for e in cur.audit(None, object_id=current.name)]
        assert actions == ["release.recovered"]
    finally:
        cur.close()


def test_published_release_keeps_the_old_one_byte_for_byte_and_queryable(curation, people):
    old = curation.data.current()
    old_ttl = old.path / "ontology" / "schemes" / "ffb-20240530.ttl"
    old_bytes = old_ttl.read_bytes()
    approved_rename(curation, people)
    info = curation.publish(people["anna"][0])

    assert old_ttl.read_bytes() == old_bytes
    assert curation.data.verify(old) == [] and curation.data.verify(info) == []
    assert info.scheme_versions == {"ffb": "20240530-curated.1"}
    assert (info.path / "ontology" / "schemes" / "ffb-20240530-curated.1.ttl").is_file()
    assert (info.path / "fhir" / "CodeSystem-ffb-20240530-curated.1.json").is_file()
    changelog = (info.path / "changelog.md").read_text("utf-8")
    assert "Vaske sig og tørre sig" in changelog and "godkendt af anna" in changelog

    past = curation.release_snapshot(old.name)
    assert past.vocab.get(FFB, VASKE_SIG).display == "Vaske sig"
    now = curation.snapshot().vocab
    assert now.get(FFB, VASKE_SIG).display == "Vaske sig og tørre sig"
    assert now.get(FFB, VASKE_SIG, "20240530").display == "Vaske sig"
    assert [r.name for r in curation.releases()] == [old.name, info.name]


def test_a_second_publish_builds_on_the_first(curation, people):
    approved_rename(curation, people, "Vaske sig og tørre sig")
    curation.publish(people["anna"][0])
    approved_rename(curation, people, "Personlig hygiejne: vask")
    second = curation.publish(people["anna"][0])
    assert second.number == 2 and second.scheme_versions == {"ffb": "20240530-curated.2"}
    vocab = curation.snapshot().vocab
    assert vocab.get(FFB, VASKE_SIG).display == "Personlig hygiejne: vask"
    assert vocab.get(FFB, VASKE_SIG, "20240530-curated.1").display == "Vaske sig og tørre sig"


def test_replica_sharing_the_data_directory_follows_a_release_without_restart(
    curation, people, data_dir, database_url
):
    from termserver.curation.service import Curation

    replica = Curation.open(data_dir, database_url)
    try:
        assert replica.snapshot().release == curation.snapshot().release
        approved_rename(curation, people)
        info = curation.publish(people["anna"][0])
        assert replica.refresh() is True
        assert replica.snapshot().release == info.name
        assert replica.snapshot().vocab.get(FFB, VASKE_SIG).display == "Vaske sig og tørre sig"
    finally:
        replica.close()


def test_nothing_to_publish_is_refused(curation, people):
    from termserver.curation.service import PublishBlocked

    with pytest.raises(PublishBlocked, match="ingen godkendte"):
        curation.publish(people["anna"][0])
    assert os.readlink(curation.data.pointer).endswith("content-20240530")
