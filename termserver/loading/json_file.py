"""Reading a JSON source file with errors that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from termserver.errors import SourceError


def read_json_file(path: Path, name: str) -> tuple[Any, bytes]:
    """The parsed document and its raw bytes; :class:`SourceError` (as ``name``) when unusable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(name, None, f"cannot read file: {exc.strerror}") from exc
    try:
        return json.loads(raw), raw
    except UnicodeDecodeError as exc:
        raise SourceError(name, None, f"not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise SourceError(name, where, f"invalid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise SourceError(name, None, "JSON nested too deeply") from exc
