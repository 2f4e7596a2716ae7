"""Service settings, read from ``SBT_*`` environment variables (and an optional ``.env`` file)."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-development-only"  # noqa: S105 - a known placeholder, refused outside development
PRODUCTION_SECRET_MIN_LENGTH = 32
DEVELOPMENT_ISSUER = "http://127.0.0.1:8000"
JAKARTA = ZoneInfo("Asia/Jakarta")


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    TESTING = "testing"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SBT_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    data_dir: Path = Path("data")
    key_dir: Path | None = None
    """Where the signing keys live (ledger checkpoints, embedded OAuth issuer); empty means ``data_dir``. Every
    replica must see the same files: a new key changes the published verifier key and ends every token."""
    database_url: str = ""
    """SQLAlchemy URL. Empty means the embedded SQLite file ``<data_dir>/sbt.db`` (development and tests only)."""

    secret_key: str = PLACEHOLDER_SECRET
    """Signs pagination cursors. Must be set to a real secret outside development (production: 32+ characters)."""

    page_size_default: int = Field(default=50, ge=1)
    page_size_max: int = Field(default=500, ge=1)

    # Workflow deadlines and ageing thresholds, one per open stage (cases.workflow.STAGE_DEADLINES says which stage
    # counts calendar and which working days, Asia/Jakarta).
    verification_days: int = Field(default=7, ge=1)
    """DITERIMA: Satgas verification of a report (BKN 2024 flow: max 7 days), calendar days."""
    registration_follow_up_days: int = Field(default=3, ge=1)
    """TERVERIFIKASI: Bawaslu follows up a registered report (starts the kajian) within 3 days, calendar days."""
    study_working_days: int = Field(default=3, ge=1)
    """KAJIAN: Bawaslu kajian (max 3 working days: no weekends, national holidays or cuti bersama)."""
    study_working_days_pemilu: int | None = Field(default=None, ge=1)
    """KAJIAN of a Pemilu case, when it differs from ``study_working_days``."""
    study_working_days_pilkada: int | None = Field(default=None, ge=1)
    """KAJIAN of a Pilkada case, when it differs from ``study_working_days``."""
    extra_holidays: Annotated[list[dt.date], NoDecode] = Field(default_factory=list)
    """Non-working days neither the ``holidays`` package nor the shipped override file
    (``app/core/data/holidays.json``) knows yet (a new decree): ``SBT_EXTRA_HOLIDAYS`` as comma-separated
    ``YYYY-MM-DD``."""

    @field_validator("extra_holidays", mode="before")
    @classmethod
    def _comma_separated_dates(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [dt.date.fromisoformat(day.strip()) for day in value.split(",") if day.strip()]
        return value

    recommendation_ageing_days: int = Field(default=14, ge=1)
    """DITERUSKAN: KASN/BKN's examination before a recommendation. No period is published; SBT's own ageing
    threshold, calendar days."""
    ppk_follow_up_days: int = Field(default=10, ge=1)
    """REKOMENDASI: PPK follow-up of a recommendation, working days (10 days quoted by Kemendagri in 2020; the
    2022 SKB number is unknown)."""
    reprimand_compliance_days: int = Field(default=3, ge=1)
    """TEGURAN_BKN: days a reprimanded PPK has to comply before further escalation (PP 12/2017), working days."""
    ppk_sanction_ageing_days: int = Field(default=14, ge=1)
    """PPK_DISANKSI: a sanctioned PPK still not acting, before BKN blocks. SBT's own ageing threshold, calendar
    days."""
    block_ageing_days: int = Field(default=30, ge=1)
    """DIBLOKIR: a personnel-data block still waiting for the PPK's sanction. SBT's own ageing threshold, calendar
    days."""

    idempotency_ttl_hours: int = Field(default=24, ge=1)
    idempotency_lock_seconds: int = Field(default=60, ge=1)
    """An in-flight idempotency key older than this is treated as abandoned."""

    # Ledger
    ledger_origin: str = "sbt.example.go.id/ledger"
    """C2SP checkpoint origin line and the signing key's name (no spaces, no '+')."""
    ledger_signing_key_file: Path | None = None
    """Ed25519 note signing key; empty means ``<key_dir>/ledger-signing.key``, generated on first start."""
    ledger_checkpoint_interval_seconds: int = Field(default=60, ge=1)
    """A write signs a new checkpoint when the latest one is at least this old."""
    ledger_checkpoint_max_entries: int = Field(default=1000, ge=1)
    """A write signs a new checkpoint when this many entries are not yet covered by one."""
    ledger_batch_max_writes: int = Field(default=1000, ge=1)
    """The sequencer integrates at most this many pending writes per round (one transaction)."""
    ledger_batch_wait_ms: float = Field(default=1.0, ge=0)
    """Once woken, the sequencer waits this long for more writes to join the round (0: the round's own duration
    is the only window)."""
    ledger_max_backlog: int = Field(default=5000, ge=1)
    """Writes waiting for their ledger positions above which a new write is refused (503 with Retry-After)."""
    ledger_sequence_timeout_seconds: float = Field(default=30, gt=0)
    """How long a write waits for its ledger positions before answering 503 (it stays committed and is sequenced
    later; its Idempotency-Key replay then returns the receipt)."""
    ledger_backlog_degraded_seconds: float = Field(default=10, gt=0)
    """``/ready`` is degraded while a committed write has waited longer than this for its ledger positions (no
    integrator gets the round, or rounds fail or fall behind)."""

    witnesses: Annotated[list[tuple[str, str]], NoDecode] = Field(default_factory=list)
    """Witnesses (C2SP tlog-witness) each new checkpoint is submitted to: ``SBT_WITNESSES`` as comma-separated
    ``<submission URL> <cosignature vkey>`` pairs (``sbt witness key`` prints a witness's vkey)."""
    witness_quorum: int | None = Field(default=None, ge=0)
    """How many of ``SBT_WITNESSES`` must cosign a checkpoint for it to count as witnessed; unset: a majority.
    Ignored while no witness is configured."""
    witness_interval_seconds: float = Field(default=1.0, ge=0)
    """Seconds between the background rounds that submit new checkpoints to the witnesses; 0 turns them off."""
    witness_timeout_seconds: float = Field(default=5.0, gt=0)
    """Per request to a witness: a witness that does not answer in time counts as down for that round."""
    witness_grace_seconds: float = Field(default=30.0, ge=0)
    """A checkpoint younger than this is not yet reported as unwitnessed (its round may still be running)."""

    @field_validator("witnesses", mode="before")
    @classmethod
    def _url_key_pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs = []
        for item in value.replace("\n", ",").split(","):
            if not item.strip():
                continue
            fields = item.split()
            if len(fields) != 2 or urlsplit(fields[0]).scheme not in ("http", "https"):
                raise ValueError(f"each witness is `<http(s) URL> <vkey>`, not {item.strip()!r}")
            pairs.append((fields[0].rstrip("/"), fields[1]))
        return pairs

    @property
    def witness_quorum_needed(self) -> int:
        if not self.witnesses:
            return 0
        return len(self.witnesses) // 2 + 1 if self.witness_quorum is None else self.witness_quorum

    @property
    def keys_path(self) -> Path:
        return self.key_dir or self.data_dir

    @property
    def ledger_key_path(self) -> Path:
        return self.ledger_signing_key_file or self.keys_path / "ledger-signing.key"

    state_audit_interval_seconds: int = Field(default=300, ge=0)
    """Seconds between rounds of the background state audit (tables against the ledger); 0 turns it off."""
    state_audit_scrub_cases: int = Field(default=2000, ge=1)
    """Untouched cases compared per round, in turn, besides those the new entries touched."""
    monitoring_bridge_interval_seconds: float = Field(default=60, ge=0)
    """Seconds between looks of each serving process for a grown ledger, after which the count bridge totals of
    the monitoring page are replayed again (one replica at a time); 0 turns the job off in this process."""

    # Reconciliation
    reconciliation_rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-rule overrides, JSON: ``{"NAME_MISMATCH": {"severity": "HIGH", "params": {...}, "enabled": true}}``."""
    duplicate_window_days: int = Field(default=3, ge=0, le=366)
    """DUPLICATE_CASE: days apart the incidents of two cases of one NIP and violation form may be and still be one
    incident reported twice (0: the same day only)."""
    reconciliation_batch_size: int = Field(default=500, ge=1)
    """Cases evaluated (and committed) per transaction in a sweep."""
    reconciliation_batch_workers: int = Field(default=2, ge=1, le=16)
    """PostgreSQL: batches a sweep re-checks at once, each in a thread and a transaction of its own (SQLite: one)."""
    reconciliation_run_stale_seconds: int = Field(default=3600, ge=1)
    """A queued or running FULL run that began longer ago than this (its worker died) no longer blocks a new one."""
    reconciliation_outbox_interval_seconds: float = Field(default=0.1, ge=0)
    """Seconds between looks of each serving process's outbox worker for touched cases to re-check (the most a
    finding waits before its round starts); 0 turns the worker off (the cases wait for another process)."""
    reconciliation_lag_degraded_seconds: float = Field(default=60, gt=0)
    """``/ready`` is degraded while a touched case has waited longer than this for its re-check."""

    # Scheduler and webhooks (one background thread per process; leader work under an advisory lock per round)
    scheduler_interval_seconds: float = Field(default=1.0, ge=0)
    """Seconds between scheduler rounds (webhook events and deliveries); 0 turns the scheduler off."""
    deadline_sweep_interval_seconds: int = Field(default=300, ge=1)
    """Seconds between deadline sweeps (``deadline.passed`` events for cases past their stage deadline)."""
    reconciliation_interval_seconds: int = Field(default=86400, ge=0)
    """Seconds between the FULL reconciliation runs the scheduler starts (a passed deadline, a retired agency's
    data: findings no write triggers); 0: none."""
    webhook_batch_size: int = Field(default=100, ge=1)
    """Ledger entries turned into events, and deliveries attempted, per scheduler round."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a receiver has to answer one delivery."""
    webhook_claim_seconds: int = Field(default=60, ge=1)
    """A delivery being attempted is retried after this long if its replica died before recording the answer."""
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0)
    """The first retry's delay; each further retry waits twice as long, up to ``webhook_retry_max_seconds``."""
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=12, ge=1)
    """Attempts before a delivery is FAILED (about a day with the default delays); redeliver tries again."""

    # Auth (OAuth2 resource server + embedded client-credentials issuer)
    auth_issuer: str = DEVELOPMENT_ISSUER
    """Exact ``iss`` of accepted tokens. The embedded issuer stamps it; for Keycloak use the realm URL.
    Production: the public ``https://`` URL clients reach SBT (or Keycloak's realm) at, never a loopback host."""
    auth_audience: str = "sbt-api"
    """``aud`` every access token must contain (Keycloak: an Audience mapper on the agency clients)."""
    auth_jwks_url: str = ""
    """External issuer's JWKS (Keycloak: ``<realm>/protocol/openid-connect/certs``). Empty: embedded issuer."""
    auth_jwks_file: Path | None = None
    """Alternative to ``auth_jwks_url``: a JWKS JSON file on disk."""
    auth_jwks_cache_seconds: int = Field(default=300, ge=0)
    """How long a fetched JWKS is trusted before it is fetched again."""
    auth_jwks_min_refetch_seconds: int = Field(default=10, ge=0)
    """Least time between two fetches caused by unknown ``kid`` values (stops kid-spraying from hammering the JWKS)."""
    auth_clock_skew_seconds: int = Field(default=30, ge=0, le=120)
    auth_require_low_s: bool = True
    """Refuse the high-S twin of an ES256 signature; false only for an external ES256 issuer that signs either form."""
    auth_token_lifetime_seconds: int = Field(default=600, ge=30, le=3600)
    """Lifetime of tokens minted by the embedded issuer."""
    auth_key_prepublish_seconds: int = Field(default=600, ge=0)
    """``sbt keys rotate --oauth``: how long a new key is published in the JWKS before it signs (longer than any
    verifier caches the JWKS; the JWKS answer's ``max-age`` is at most this)."""
    auth_dpop_proof_max_age_seconds: int = Field(default=60, ge=5, le=600)
    """How old (by its ``iat``) a DPoP proof may be; its ``jti`` is remembered that long (plus the clock skew)."""
    auth_client_status_cache_seconds: int = Field(default=30, ge=0)
    """Embedded issuer: a disabled client's tokens stop working at most this long after it is disabled, in the
    other processes when they share no ``redis_url`` (with it: within a second everywhere)."""

    auth_failures_per_client: int = Field(default=10, ge=1)
    """Failed authentications of one client id per window before ``/oauth/token`` answers 429 (shared
    by the replicas through ``redis_url``, else per process)."""
    auth_failures_per_address: int = Field(default=50, ge=1)
    """Failed client authentications from one source address per window before 429 (shared like the above)."""
    auth_failure_window_seconds: int = Field(default=300, ge=1)

    # Shared state between replicas
    redis_url: str = ""
    """Redis (``redis://host:6379/0``) where replicas share rate limits, the token-endpoint throttle and the
    client-disable signal. Empty (the embedded default): kept in each process's memory."""
    redis_key_prefix: str = Field(default="sbt", min_length=1)
    """Prefix of every key SBT writes in Redis (several deployments, or parallel tests, can share one server)."""

    # Audit, change feed, rate limiting, response headers
    rate_limit_requests: int = Field(default=6000, ge=1)
    """Requests one client may make to /api/v1 per window (generous: agencies sync in bursts), counted over all
    replicas through ``redis_url``, else per process."""
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    export_concurrency_per_client: int = Field(default=2, ge=1)
    """Streaming exports (audit cases CSV/NDJSON, findings CSV, ledger) one client may run at once, per process."""
    changes_page_size_max: int = Field(default=1000, ge=1)
    """Most change-feed entries returned per call."""
    hsts_max_age_seconds: int = Field(default=0, ge=0)
    """Behind TLS: send ``Strict-Transport-Security`` with this max-age (0, the default: not sent)."""
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    """Largest request body accepted (1 MiB); a larger one is refused with 413 before anything reads it."""

    # Metrics
    metrics_enabled: bool = False
    """Serve Prometheus metrics at ``/metrics``; off (the default), it answers 404."""
    metrics_token: str = ""
    """When set, ``/metrics`` needs ``Authorization: Bearer <token>`` (Prometheus: ``authorization.credentials``).
    Required in production when metrics are on: they name routes, volumes and backlogs."""

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sbt.db').as_posix()}"

    @property
    def auth_embedded_issuer(self) -> bool:
        """True unless an external issuer's JWKS is configured."""
        return not self.auth_jwks_url and self.auth_jwks_file is None

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @model_validator(mode="after")
    def _refuse_unsafe_configuration(self) -> Settings:
        """Every problem found, one line each (``ConfigurationError`` prints them without a traceback)."""
        problems: list[str] = []
        if self.environment is not Environment.DEVELOPMENT and self.secret_key == PLACEHOLDER_SECRET:
            problems.append(
                "SBT_SECRET_KEY still holds the development placeholder; set a real secret "
                f"when SBT_ENVIRONMENT={self.environment.value}"
            )
        if self.environment is Environment.PRODUCTION:
            problems += self._production_problems()
        if self.auth_jwks_url and self.auth_jwks_file is not None:
            problems.append("set either SBT_AUTH_JWKS_URL or SBT_AUTH_JWKS_FILE, not both")
        if self.witnesses and self.witness_quorum is not None and self.witness_quorum > len(self.witnesses):
            problems.append(
                f"SBT_WITNESS_QUORUM ({self.witness_quorum}) exceeds the {len(self.witnesses)} SBT_WITNESSES configured"
            )
        if self.page_size_default > self.page_size_max:
            problems.append("SBT_PAGE_SIZE_DEFAULT must not exceed SBT_PAGE_SIZE_MAX")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        if not self.database_url:
            problems.append(
                "SBT_DATABASE_URL is required in production (postgresql+psycopg://user:password@host/database); "
                "the embedded SQLite file is for development only"
            )
        elif not self.database_url.startswith("postgresql"):
            problems.append("SBT_DATABASE_URL must name a PostgreSQL database (postgresql+psycopg://...) in production")
        if self.secret_key != PLACEHOLDER_SECRET and len(self.secret_key) < PRODUCTION_SECRET_MIN_LENGTH:
            problems.append(f"SBT_SECRET_KEY must be at least {PRODUCTION_SECRET_MIN_LENGTH} characters in production")
        if issuer_problem := _public_url_problem(self.auth_issuer):
            problems.append(f"SBT_AUTH_ISSUER {issuer_problem} in production (got {self.auth_issuer!r})")
        if self.auth_jwks_url and not self.auth_jwks_url.startswith("https://"):
            problems.append("SBT_AUTH_JWKS_URL must use https:// in production")
        if self.metrics_enabled and len(self.metrics_token) < PRODUCTION_SECRET_MIN_LENGTH:
            problems.append(
                f"SBT_METRICS_TOKEN ({PRODUCTION_SECRET_MIN_LENGTH}+ characters) is required in production "
                "when SBT_METRICS_ENABLED=true"
            )
        return problems


def _public_url_problem(url: str) -> str | None:
    """Why ``url`` is not a public https URL, or None. Private addresses are allowed: agencies' networks are
    closed; loopback and unspecified hosts are not, since no client can reach SBT there."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return "must be the service's public https:// URL"
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return "must not name localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return "must not name a loopback or unspecified address"
    return None


class ConfigurationError(Exception):
    """Settings that must not start: one line per problem, each naming the ``SBT_*`` variable at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"configuration error: {problem}" for problem in problems))
        self.problems = problems

    @classmethod
    def from_validation(cls, error: ValidationError) -> ConfigurationError:
        problems: list[str] = []
        for detail in error.errors(include_url=False):
            message = detail["msg"].removeprefix("Value error, ")
            if detail["loc"]:
                problems.append(f"SBT_{str(detail['loc'][0]).upper()}: {message}")
            else:
                problems += message.splitlines()
        return cls(problems)


@lru_cache
def get_settings() -> Settings:
    """The process's settings; ``ConfigurationError`` (one line per problem) when they must not start."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError.from_validation(error) from None
