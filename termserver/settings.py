"""Operating limits and switches, read once from the environment when the app is built.

Every limit an operator may tune lives here, so there is one place to read them and one name
per setting (``TERMSERVER_*``). ``termserver serve`` options set the same variables, so each
worker process reads the same values. A malformed value is refused at start-up with the
variable's name, never silently replaced by a default.
"""

from __future__ import annotations

import contextvars
import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_BODY_ENV = "TERMSERVER_MAX_BODY_BYTES"
QUERY_TIMEOUT_ENV = "TERMSERVER_QUERY_TIMEOUT"
MAX_RESULTS_ENV = "TERMSERVER_MAX_RESULTS"
MAX_EXPANSION_ENV = "TERMSERVER_MAX_EXPANSION"
RATE_LIMIT_ENV = "TERMSERVER_RATE_LIMIT"
RATE_BURST_ENV = "TERMSERVER_RATE_BURST"
TRUSTED_PROXIES_ENV = "TERMSERVER_TRUSTED_PROXIES"
LOG_FORMAT_ENV = "TERMSERVER_LOG_FORMAT"
# Older names, still honoured when the new one is not set.
_SPARQL_TIMEOUT_ENV = "TERMSERVER_SPARQL_TIMEOUT"
_SPARQL_MAX_RESULTS_ENV = "TERMSERVER_SPARQL_MAX_RESULTS"

LOG_FORMATS = ("json", "text")


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    """The limits one app enforces.

    ``max_body_bytes``: largest request body (413 beyond). ``query_timeout``: seconds a
    SPARQL query may run before its worker is stopped (503). ``max_results``: rows or triples
    one SPARQL answer may hold (400, too-many-results). ``max_expansion``: codes one
    ``$expand`` answers (the largest page, and the largest expansion answered without paging).
    ``rate_limit``: requests per second per client, 0 for no limit; ``rate_burst`` requests may
    come at once (429 with Retry-After beyond). ``trusted_proxies``: the reverse proxies whose
    ``X-Forwarded-For`` names the client; from anyone else the header is ignored.
    ``log_format``: ``json`` or ``text``.
    """

    max_body_bytes: int = 10 * 1024 * 1024
    query_timeout: float = 10.0
    max_results: int = 10_000
    max_expansion: int = 10_000
    rate_limit: float = 0.0
    rate_burst: int = 0
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    log_format: str = "json"

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_results", "max_expansion"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.query_timeout <= 0:
            raise SettingsError("query_timeout must be positive")
        if self.rate_limit < 0 or self.rate_burst < 0:
            raise SettingsError("rate_limit and rate_burst must not be negative")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.rate_limit and not self.rate_burst:
            # A burst of one would refuse a browser loading a page and its stylesheet.
            object.__setattr__(self, "rate_burst", max(1, round(2 * self.rate_limit)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings named by ``TERMSERVER_*`` variables in ``env`` (default: the process's)."""
        env = os.environ if env is None else env
        defaults = cls()

        def read(names: tuple[str, ...], kind: type, default):
            for name in names:
                raw = env.get(name, "").strip()
                if raw:
                    try:
                        return kind(raw)
                    except ValueError:
                        raise SettingsError(
                            f"{name}={raw!r} is not a valid {kind.__name__}"
                        ) from None
            return default

        return cls(
            max_body_bytes=read((MAX_BODY_ENV,), int, defaults.max_body_bytes),
            query_timeout=read(
                (QUERY_TIMEOUT_ENV, _SPARQL_TIMEOUT_ENV), float, defaults.query_timeout
            ),
            max_results=read((MAX_RESULTS_ENV, _SPARQL_MAX_RESULTS_ENV), int, defaults.max_results),
            max_expansion=read((MAX_EXPANSION_ENV,), int, defaults.max_expansion),
            rate_limit=read((RATE_LIMIT_ENV,), float, defaults.rate_limit),
            rate_burst=read((RATE_BURST_ENV,), int, defaults.rate_burst),
            trusted_proxies=parse_networks(env.get(TRUSTED_PROXIES_ENV, "")),
            log_format=read((LOG_FORMAT_ENV,), str, defaults.log_format).lower(),
        )

    def replace(self, **changes) -> Settings:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or networks (``10.0.0.5, 10.1.0.0/16``)."""
    nets = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{TRUSTED_PROXIES_ENV}: {part!r} is not an IP address or network"
            ) from None
    return tuple(nets)


_DEFAULT = Settings()
_current: contextvars.ContextVar[Settings] = contextvars.ContextVar(
    "termserver_settings", default=_DEFAULT
)


def current() -> Settings:
    """The settings of the app answering this request (defaults outside a request).

    The limits middleware sets them per request, so code far from the app (an operation on a
    value set) reads the limits its own app was built with, even with several apps in one process.
    """
    return _current.get()


def use(settings: Settings) -> contextvars.Token:
    """Make ``settings`` :func:`current` in this context; returns the token to reset it."""
    return _current.set(settings)


def reset(token: contextvars.Token) -> None:
    """Undo :func:`use`."""
    _current.reset(token)
