"""Settings base: infrastructure settings shared by every service, per-service prefixes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_SECRETS = frozenset({DEV_JWT_SECRET, "", "changeme", "secret"})

EXAMPLE_SECRET_SHA256 = frozenset(
    {
        "c3a7232e3740a668339c31af63c4da82672de5789f3dec7c234b55cb9ab8959a",
        "f664db37f305bd9cddca3c0375a1cfbabb803bb0b9bbc5c26d12f374d3da634e",
        "2ff2f029d2b840d01321ca27d89dfed47f91c898bc5541af9875df37cb1f9fd9",
        "ae87029dc41bfb1c268b2039f1d129d85db0c2cdc708c2a8f00219a57cf79977",
        "a9834fd65950ca70c1a4767dd34f11c9d37a0f94a6f740ab09d611b7a2ce3b62",
        "0f1475f748e16eca53e0d558e0edc12b6c264e34d39b4d246f99b3bf8975efcd",
        "481bbf06be6ddc66bb4ef0b20d00f9e73bb3c85e0826074574b0788db63e50ae",
        "cc5412081827ff6a33f37ec5e7a4ece39bf11c0d51392f8aae3164ecdd82bbd9",
        "367f4679b5004c6a736abdf8f3bc5ead6194a5962419f1879b7d33cf420b66f7",
        "40928c53d76989644bc5d795c50f6ebe5c1323d3efec0f69a845e95682814bbe",
        "441ca36a3e62c4e20aaeb6f5afd32bcc7544bbbd446dea2a7d814986b83aab0b",
        "7ec51c2119585e21c53e16ee9b79e0c5a02792cb29cc88ca41a563342a588be4",
    }
)
"""SHA-256 of every secret the examples in deploy/ ship (compose .env.example, k8s
secrets.example.yaml): published, so a production process refuses them. Hashes, so the image
(which has no deploy/) still knows them; tests/unit/test_production_refusals.py keeps this set
equal to the examples."""


def is_example_secret(value: str | None) -> bool:
    """Whether `value` is one of the secrets published in deploy/'s examples."""
    return bool(value) and hashlib.sha256(str(value).encode()).hexdigest() in EXAMPLE_SECRET_SHA256


def url_password(url: str | None) -> str | None:
    """The password in a database URL, if any."""
    if not url:
        return None
    try:
        return make_url(url).password
    except Exception:
        return None


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
    kafka_enable_idempotence: bool = Field(
        False, validation_alias=_alias("KAFKA_ENABLE_IDEMPOTENCE")
    )
    """The idempotent producer: on for Apache Kafka (deploy/), off for the embedded Tansu
    broker, which does not support it."""
    kafka_broker_epoch: bool = Field(True, validation_alias=_alias("KAFKA_BROKER_EPOCH"))
    """Check the broker's epoch marker and re-publish retained outbox rows when the broker came
    back empty (shared/epoch.py): on for the embedded broker, whose storage is memory; off
    for Apache Kafka (deploy/), whose replicated logs outlive a broker's restart."""
    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias=_alias("JWT_SECRET"))
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        "HS256", validation_alias=_alias("JWT_ALGORITHM")
    )
    jwt_jwks_url: str | None = Field(None, validation_alias=_alias("JWT_JWKS_URL"))
    jwt_audience: str | None = Field(None, validation_alias=_alias("JWT_AUDIENCE"))
    jwt_issuer: str | None = Field(None, validation_alias=_alias("JWT_ISSUER"))

    access_sub_units: dict[str, list[str]] = Field(
        default_factory=dict, validation_alias=_alias("ACCESS_SUB_UNITS")
    )
    """Department -> its sub-units (JSON), for room/centre managers' scope (seed 003 §4.5)."""
    access_partner_orgs: dict[str, list[str]] = Field(
        default_factory=dict, validation_alias=_alias("ACCESS_PARTNER_ORGS")
    )
    """Partner id -> further `source.org` names it may transfer as (JSON); its id always."""
    access_partner_sp_codes: dict[str, list[str]] = Field(
        default_factory=dict, validation_alias=_alias("ACCESS_PARTNER_SP_CODES")
    )
    """Partner id -> the SP codes it speaks for (JSON): it reads the tickets that concern them."""

    database_url: str | None = None
    db_schema: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    max_in_flight: int = 16
    """Requests this process runs at once (admission control, shared.admission); 0: no bound.
    With ~50 complaints/s per process, 16 in flight keeps an accepted request under 1 s."""
    max_queued: int = 64
    """Requests that may wait for a slot; beyond that they are refused at once (503)."""
    queue_budget_ms: float = 20.0
    """How long a request waits for a slot before a 503 with Retry-After (keeps it < 50 ms)."""
    consumers_enabled: bool = True
    relay_enabled: bool = True
    relay_batch_size: int = 200
    relay_idle_interval_s: float = 5.0
    """Relay poll with nothing to send: a commit in this process wakes it at once, so this
    only bounds how late rows another process committed are noticed (and how often an idle
    relay asks the broker for its epoch: each poll checks it when older than
    `relay_epoch_check_interval_s`)."""
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
    consumer_heartbeat_interval_ms: int = 2000
    """A third of the session timeout, as Kafka advises (fewer wake-ups when idle)."""
    consumer_fetch_max_wait_ms: int = 3000
    """A fetch's long poll: the broker answers as soon as a record arrives (Tansu too), so
    this bounds only how often an idle consumer asks, not the latency per hop (a stop
    cancels the fetch in flight)."""
    consumer_max_attempts: int = 3
    consumer_retry_backoff_s: float = 0.2
    consumer_parked_ttl_s: float = 86400.0
    """How long a parked event (its parent has not arrived) waits before it is
    dead-lettered with its reason. Platform policy, not from a seed: a day outlasts any
    consumer outage we expect; the parent normally follows within seconds."""
    consumer_parked_sweep_interval_s: float = 30.0
    scheduler_enabled: bool = True
    """Run this replica's timers (SLA warnings, escalations, ...); safe on every replica."""
    scheduler_interval_s: float = 1.0
    """Least time between two ticks of a timer that found nothing due."""
    scheduler_idle_s: float = 10.0
    """Longest a timer sleeps with nothing due and no commit: it wakes at the next due time
    (or a commit in this process) sooner; this bounds how late a row another replica made
    due earlier is noticed."""

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
            self.jwt_secret in DEV_SECRETS
            or is_example_secret(self.jwt_secret)
            or len(self.jwt_secret) < 32
        ):
            raise ValueError(
                "JWT_SECRET is a development or example secret; refusing to start in production"
            )
        if self.jwt_algorithm == "RS256" and not self.jwt_jwks_url:
            raise ValueError("JWT_JWKS_URL is required for RS256 in production")
        if not (self.jwt_audience and self.jwt_issuer):
            raise ValueError(
                "JWT_AUDIENCE and JWT_ISSUER are required in production (a token minted for "
                "another audience or by another issuer must not be accepted)"
            )
        if self.database_url is None or self.database_url.startswith("sqlite"):
            raise ValueError(
                f"{self.service_name}: a PostgreSQL database_url is required in production"
            )
        if is_example_secret(url_password(self.database_url)):
            raise ValueError(
                f"{self.service_name}: the database password is an example from deploy/; "
                "refusing to start in production"
            )
        return self
