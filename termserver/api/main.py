"""The ASGI entry point for ``termserver serve`` and other servers: ``termserver.api.main:app``.

Builds the snapshot at import, before the server accepts a connection, so the first request is
answered at full speed.
"""

from termserver.api.app import create_app
from termserver.api.state import build_snapshot

app = create_app(build_snapshot())
