"""The ASGI entry point for ``termserver serve`` and other servers: ``termserver.api.main:app``.

Builds the snapshot at import, before the server accepts a connection, so the first request is
answered at full speed. ``kill -HUP`` rereads the content files; when they have problems the
server logs every one and keeps serving what it has.
"""

import logging
import signal
import threading

from termserver.api.app import create_app
from termserver.api.state import build_snapshot, reload_snapshot
from termserver.errors import SourceError

app = create_app(build_snapshot())
_log = logging.getLogger("termserver")


def _reload() -> None:
    try:
        fresh = reload_snapshot(app.state.holder)
    except (SourceError, OSError) as exc:
        _log.error("reload refused, still serving %s: %s", app.state.holder.current.release, exc)
    else:
        _log.warning("reloaded content: now serving %s", fresh.release)


def _on_hangup(signum, frame) -> None:
    # Rebuilding takes about a second: do it off the event loop's thread.
    threading.Thread(target=_reload, name="termserver-reload", daemon=True).start()


if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
    signal.signal(signal.SIGHUP, _on_hangup)
