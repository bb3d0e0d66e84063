"""Where curation keeps its state: the names commands and the server share.

Kept apart from :mod:`termserver.curation.service` so the CLI can name its options without
importing the engine (which costs a fifth of a second at every `termserver` start).
"""

from __future__ import annotations

from pathlib import Path

DATA_ENV_VAR = "TERMSERVER_DATA"
DATABASE_ENV_VAR = "TERMSERVER_DATABASE_URL"
DEFAULT_DATA_DIR = Path("termserver-data")
