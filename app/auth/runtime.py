"""Per-application auth components (verifier, embedded issuer, client status cache), built from settings."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.auth import repository
from app.auth.assertion import ClientAssertionVerifier
from app.auth.dpop import DPoPVerifier
from app.auth.issuer import TokenIssuer
from app.auth.jwks import JWKSCache, JWKSFetcher, file_fetcher, url_fetcher
from app.auth.keys import KeyRing
from app.auth.replay_cache import InProcessReplayCache, ReplayCache
from app.auth.verifier import TokenVerifier
from app.core.actor import Agency
from app.core.clock import today_in_jakarta
from app.core.config import Settings
from app.core.shared_state import ChangeSignal, SharedState
from app.reference import repository as reference
from app.reference.repository import Retirement

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret


class ClientStatusCache:
    """Whether a client of the embedded issuer is still active, remembered for a few seconds.

    A change of a client's status bumps ``signal`` once committed (``changed``); every process sharing the signal
    (every replica, through Redis) drops what it remembered on its next request, so a disabled client is refused
    everywhere within the signal's poll interval. Without a shared signal another process notices within
    ``ttl_seconds``; while the shared signal cannot be read, status is read from the database on every request.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        ttl_seconds: float,
        signal: ChangeSignal,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._ttl = ttl_seconds
        self._signal = signal
        self._clock = clock
        self._known: dict[str, tuple[bool, float]] = {}
        self._version: int | None = None

    def is_active(self, client_id: str) -> bool:
        now = self._clock()
        version = self._signal.version()
        if version is None or version != self._version:
            self._known = {}
            self._version = version
        cached = self._known.get(client_id)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        with self._factory() as session:
            active = repository.client_is_active(session, client_id)
        if version is not None:
            self._known[client_id] = (active, now)
        return active

    def changed(self) -> None:
        """A client's status changed and was committed: tell every process to read it again."""
        self._signal.bump()


class AgencyLifetimes:
    """Refuses principals of agencies that have ceased to exist (KASN from 2024-08-24), whatever issued the token.

    The end dates are reference data, changed only by a migration: read once per process, on first use.
    """

    def __init__(self, factory: sessionmaker[Session], today: Callable[[], dt.date] = today_in_jakarta) -> None:
        self._factory = factory
        self._today = today
        self._ended: dict[str, Retirement] | None = None

    def refusal(self, agency: Agency) -> str | None:
        if self._ended is None:
            with self._factory() as session:
                self._ended = reference.retirements(session)
        ended = self._ended.get(agency.value)
        if ended is None or self._today() < ended.ended_on:
            return None
        return f"{ended.describe()}; its tokens are no longer accepted"


@dataclass(frozen=True)
class AuthRuntime:
    verifier: TokenVerifier
    issuer: TokenIssuer | None
    """None when an external issuer (e.g. Keycloak) is configured."""
    client_status: ClientStatusCache | None
    dpop: DPoPVerifier
    """DPoP proofs, at the resource server and at the embedded token endpoint (one replay cache for both)."""
    client_assertions: ClientAssertionVerifier | None
    """``private_key_jwt`` at the embedded token endpoint; None with an external issuer."""


def load_issuer(settings: Settings, now: Callable[[], float] = time.time) -> TokenIssuer:
    """The embedded issuer with its key ring in ``key_dir`` (the first key created on first use)."""
    return TokenIssuer(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        keys=KeyRing(settings.keys_path, now=now),
        lifetime_seconds=settings.auth_token_lifetime_seconds,
        now=now,
    )


CLIENT_STATUS_SIGNAL = "client-status"


def client_status_signal(shared: SharedState) -> ChangeSignal:
    """The signal a change of a client's status is announced on (the API and the ``sbt clients`` commands)."""
    return shared.signal(CLIENT_STATUS_SIGNAL)


def build_runtime(
    settings: Settings,
    factory: sessionmaker[Session],
    shared: SharedState,
    *,
    jwks_fetcher: JWKSFetcher | None = None,
    replay_cache: ReplayCache | None = None,
) -> AuthRuntime:
    """``jwks_fetcher`` overrides where an external issuer's keys come from (tests); ``replay_cache`` where used
    DPoP proofs and client assertions are remembered (default: in this process)."""
    issuer: TokenIssuer | None = None
    client_status: ClientStatusCache | None = None
    client_assertions: ClientAssertionVerifier | None = None
    used_once = replay_cache or InProcessReplayCache()
    if settings.auth_embedded_issuer:
        issuer = load_issuer(settings)
        client_status = ClientStatusCache(
            factory, settings.auth_client_status_cache_seconds, client_status_signal(shared)
        )
        client_assertions = ClientAssertionVerifier(
            audiences={settings.auth_issuer, token_endpoint_url(settings)},
            replay_cache=used_once,
            clock_skew_seconds=settings.auth_clock_skew_seconds,
        )
        fetch = jwks_fetcher or issuer.keys.jwks
    elif jwks_fetcher is not None:
        fetch = jwks_fetcher
    elif settings.auth_jwks_file is not None:
        fetch = file_fetcher(settings.auth_jwks_file)
    else:
        fetch = url_fetcher(settings.auth_jwks_url)
    keys = JWKSCache(
        fetch,
        ttl_seconds=settings.auth_jwks_cache_seconds,
        # The embedded ring is a local file, read again only when it changed: an unknown kid (a key another
        # replica's rotation added) looks at it at once, where a remote JWKS is spared a fetch per stray kid.
        min_refetch_seconds=0 if issuer is not None else settings.auth_jwks_min_refetch_seconds,
    )
    dpop = DPoPVerifier(
        replay_cache=used_once,
        max_age_seconds=settings.auth_dpop_proof_max_age_seconds,
        clock_skew_seconds=settings.auth_clock_skew_seconds,
    )
    verifier = TokenVerifier(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        keys=keys,
        clock_skew_seconds=settings.auth_clock_skew_seconds,
        client_is_active=client_status.is_active if client_status else None,
        agency_refusal=AgencyLifetimes(factory).refusal,
        require_low_s=settings.auth_require_low_s,
        dpop=dpop,
    )
    return AuthRuntime(
        verifier=verifier, issuer=issuer, client_status=client_status, dpop=dpop, client_assertions=client_assertions
    )


def token_endpoint_url(settings: Settings) -> str:
    """The embedded token endpoint as the metadata names it (the ``aud`` of client assertions, a DPoP ``htu``)."""
    return settings.auth_issuer.rstrip("/") + TOKEN_PATH
