"""The served application with curation switched on when a data directory is configured.

Without ``--data-dir``/``$TERMSERVER_DATA`` the server answers from the repository's files
exactly as before (read-only; the curation API says 503). With one, the data directory is
created and seeded on first start, the server answers from its current release, and publishing
swaps new releases in without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from termserver.curation.config import DATA_ENV_VAR, DATABASE_ENV_VAR
from termserver.curation.service import Curation

READS_ENV_VAR = "TERMSERVER_CURATION_READS"


def create_server_app(
    data_dir: Path | None = None, database_url: str | None = None, *, watch: bool = True
) -> Any:
    """The FastAPI app ``termserver serve`` runs (see :mod:`termserver.api.main`)."""
    from termserver.api.app import create_app
    from termserver.api.state import build_snapshot

    configured = data_dir or os.environ.get(DATA_ENV_VAR)
    if not configured:
        return create_app(build_snapshot())
    cur = Curation.open(
        Path(configured),
        database_url or os.environ.get(DATABASE_ENV_VAR) or None,
        open_reads=os.environ.get(READS_ENV_VAR, "open") != "token",
    )
    return attach(create_app(cur.snapshot()), cur, watch=watch)


def attach(app: Any, cur: Curation, *, watch: bool = False) -> Any:
    """Give ``app`` the curation engine: publishing swaps into the app's snapshot holder."""
    from termserver.fhir.stored import StoredResources

    cur.attach(app.state.holder)
    app.state.curation = cur
    stored = StoredResources(cur.store)
    stored.refresh()
    app.state.fhir_store = stored
    if watch:
        cur.watch()
        stored.watch()
    return app
