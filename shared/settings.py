"""Settings base: infrastructure settings shared by every service, per-service prefixes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_SECRETS = frozenset({DEV_JWT_SECRET, "", "changeme", "secret"})
DLQ_RETENTION_DAYS = 90
"""Dead-letter topics keep records 90 days (deploy/topics.yaml): a replay may come that late."""
TOPIC_RETENTION_DAYS = 14
"""Event topics keep records 14 days (deploy/topics.yaml): a reset group may re-read them."""


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    """Base for each service's settings.

    Infrastructure settings shared by all services use un-prefixed environment
    variables (ENV, KAFKA_BOOTSTRAP_SERVERS, JWT_*, DATA_DIR); everything else uses
    the service's prefix (INTAKE_DATABASE_URL, ROUTING_PORT, ...).
    """

    model_config = SettingsConfigDict(extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "service"
    env: Literal["embedded", "development", "test", "production"] = Field(
        "embedded", validation_alias=_alias("ENV")
    )
    data_dir: Path = Field(Path("data"), validation_alias=_alias("DATA_DIR"))
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_alias("KAFKA_BOOTSTRAP_SERVERS")
    )
    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias=_alias("JWT_SECRET"))
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        "HS256", validation_alias=_alias("JWT_ALGORITHM")
    )
    jwt_jwks_url: str | None = Field(None, validation_alias=_alias("JWT_JWKS_URL"))
    jwt_audience: str | None = Field(None, validation_alias=_alias("JWT_AUDIENCE"))
    jwt_issuer: str | None = Field(None, validation_alias=_alias("JWT_ISSUER"))

    database_url: str | None = None
    db_schema: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    consumers_enabled: bool = True
    relay_enabled: bool = True
    relay_batch_size: int = 200
    relay_idle_interval_s: float = 0.2
    relay_epoch_check_interval_s: float = 1.0
    """How often a relay checks that the broker still holds what it was sent (shared/epoch.py):
    also the longest a refilled broker may deliver new events ahead of re-published ones."""
    stop_drain_timeout_s: float = 5.0
    """On stop, how long the relay may keep publishing what is left (the rest waits)."""
    outbox_retention_days: float = 7.0
    """Sent outbox rows are kept this long, to refill a broker that comes back empty."""
    inbox_retention_days: float = 100.0
    """Processed event ids are kept this long: at least the longest window in which an event
    can come again (a dead-letter replay up to DLQ_RETENTION_DAYS later, a refill of the
    outbox retention, a topic's 14 days), so a redelivery stays a no-op."""
    idempotency_retention_days: float = 7.0
    """How long an Idempotency-Key replays its original response (clients retry for minutes
    to hours; a week covers an overnight batch resubmitted after a weekend)."""
    retention_interval_s: float = 3600.0
    """How often the retention job prunes expired rows."""
    consumer_session_timeout_ms: int = 6000
    """Tansu holds a new member's join for about half of this: tests use a short one."""
    consumer_heartbeat_interval_ms: int = 1000
    consumer_fetch_max_wait_ms: int = 100
    """Upper bound on a fetch's long poll: the end-to-end latency floor per hop."""
    consumer_max_attempts: int = 3
    consumer_retry_backoff_s: float = 0.2
    scheduler_enabled: bool = True
    """Run this replica's timers (SLA warnings, escalations, ...); safe on every replica."""
    scheduler_interval_s: float = 1.0

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file per service under the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @model_validator(mode="after")
    def _inbox_outlives_every_redelivery(self) -> ServiceSettings:
        longest = max(DLQ_RETENTION_DAYS, TOPIC_RETENTION_DAYS, self.outbox_retention_days)
        if self.inbox_retention_days < longest:
            raise ValueError(
                f"inbox_retention_days ({self.inbox_retention_days}) must be at least the longest"
                f" redelivery window ({longest} days): a redelivered event would apply twice"
            )
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        if not self.production:
            return self
        if self.jwt_algorithm == "HS256" and (
            self.jwt_secret in DEV_SECRETS or len(self.jwt_secret) < 32
        ):
            raise ValueError("JWT_SECRET is a development secret; refusing to start in production")
        if self.jwt_algorithm == "RS256" and not self.jwt_jwks_url:
            raise ValueError("JWT_JWKS_URL is required for RS256 in production")
        if self.database_url is None or self.database_url.startswith("sqlite"):
            raise ValueError(
                f"{self.service_name}: a PostgreSQL database_url is required in production"
            )
        return self
