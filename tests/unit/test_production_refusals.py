"""With ENV=production every service refuses to start on configuration that is only safe on a
laptop: the dev or example secrets, tokens without audience and issuer, RS256 without a JWKS,
SMTP without TLS; SQL parameters never reach logs. Each refusal is checked by removing just
that one fault from an otherwise valid production configuration."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.refund.settings import RefundSettings
from services.routing.settings import RoutingSettings
from services.sla.settings import SlaSettings
from shared.db import Database
from shared.settings import DEV_JWT_SECRET, EXAMPLE_SECRET_SHA256, ServiceSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_KEY = re.compile(r"(PASSWORD|SECRETS?|_KEY|DATABASE_URL)$")


def example_secrets() -> set[str]:
    """Every secret value the examples in deploy/ publish (passwords inside URLs included)."""
    found: set[str] = set()
    text = (DEPLOY / "compose" / ".env.example").read_text(encoding="utf-8")
    text += (DEPLOY / "k8s" / "secrets.example.yaml").read_text(encoding="utf-8")
    for line in text.splitlines():
        match = re.match(r"\s*([A-Z0-9_]+)\s*[=:]\s*(.+)$", line)
        if not match or not SECRET_KEY.search(match[1]):
            continue
        value = match[2].strip().strip("'\"")
        if value.startswith("{"):
            found |= set(json.loads(value).values())
        elif "://" in value:
            found.add(re.sub(r"^.*://[^:]+:([^@]+)@.*$", r"\1", value))
        elif value not in (">-", "|"):
            found.add(value)
    partner_json = re.search(r"INTAKE_PARTNER_SECRETS: >-\n((?:\s{4}.+\n)+)", text)
    if partner_json:
        found |= set(json.loads(" ".join(partner_json[1].split())).values())
    return found


def own_secret(example: str) -> str:
    """A fresh secret shaped like the example (whsec_ base64 or hex)."""
    if example.startswith("whsec_"):
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_hex(24)


def test_the_known_example_secrets_are_exactly_those_deploy_publishes() -> None:
    examples = example_secrets()
    assert len(examples) >= 10
    assert {hashlib.sha256(v.encode()).hexdigest() for v in examples} == EXAMPLE_SECRET_SHA256


PG = "postgresql+asyncpg://svc:{pw}@db.internal:5432/svc"
GOOD: dict[str, Any] = {
    "env": "production",
    "jwt_secret": secrets.token_hex(32),
    "jwt_audience": "complaints-10086",
    "jwt_issuer": "https://sso.internal/realms/staff",
    "database_url": PG.format(pw=secrets.token_hex(16)),
}
EXAMPLE = sorted(example_secrets())


def _refused(cls: type[ServiceSettings], match: str, **changes: Any) -> None:
    values = {**GOOD, **changes}
    with pytest.raises(ValidationError, match=match):
        cls(**{k: v for k, v in values.items() if v is not None})


@pytest.mark.parametrize(
    "cls", [IntakeSettings, RoutingSettings, SlaSettings, RefundSettings, NotifySettings]
)
def test_every_service_refuses_unsafe_token_and_database_settings_in_production(
    cls: type[ServiceSettings],
) -> None:
    extra: dict[str, Any] = {}
    if cls is IntakeSettings:
        extra["partner_secrets"] = {"miit_12300": own_secret("whsec_")}
    if cls is RefundSettings:
        extra["audit_key"] = secrets.token_hex(32)
    if cls is NotifySettings:
        extra.update(smtp_tls="starttls", smpp_password=secrets.token_hex(8))
    cls(**GOOD, **extra)  # the valid baseline starts
    jwt_example = next(v for v in EXAMPLE if len(v) == 64)
    for bad, match in (
        ({"jwt_secret": DEV_JWT_SECRET}, "development or example secret"),
        ({"jwt_secret": jwt_example}, "development or example secret"),
        ({"jwt_audience": None}, "JWT_AUDIENCE and JWT_ISSUER"),
        ({"jwt_issuer": None}, "JWT_AUDIENCE and JWT_ISSUER"),
        ({"jwt_algorithm": "RS256"}, "JWT_JWKS_URL is required"),
        ({"database_url": "sqlite+aiosqlite:///x.db"}, "PostgreSQL database_url"),
        ({"database_url": PG.format(pw=EXAMPLE[0])}, "example from deploy"),
    ):
        _refused(cls, match, **extra, **bad)


def test_intake_refuses_the_example_partner_secrets_in_production() -> None:
    example = next(v for v in EXAMPLE if v.startswith("whsec_"))
    IntakeSettings(**GOOD, partner_secrets={"miit_12300": own_secret(example)})  # starts
    _refused(IntakeSettings, "example partner secrets", partner_secrets={"miit_12300": example})


def test_refund_refuses_the_example_audit_key_in_production() -> None:
    example = next(v for v in EXAMPLE if len(v) == 48 and v.startswith("d2eb"))
    RefundSettings(**GOOD, audit_key=own_secret(example) * 2)
    _refused(RefundSettings, "development key", audit_key=example)


def test_notify_refuses_smtp_without_tls_and_example_gateway_passwords_in_production() -> None:
    ok = {"smtp_tls": "starttls", "smpp_password": secrets.token_hex(8)}
    NotifySettings(**GOOD, **ok)
    _refused(NotifySettings, "SMTP without TLS", **{**ok, "smtp_tls": "none"})
    smtp_example = next(v for v in EXAMPLE if v.startswith("5e8d"))
    _refused(NotifySettings, "example from deploy", **{**ok, "smtp_password": smtp_example})
    NotifySettings(smtp_tls="none")  # embedded: a local relay without TLS is fine


async def test_sql_parameters_never_reach_an_error_message_or_log(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    assert db.engine.sync_engine.hide_parameters
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (msisdn TEXT PRIMARY KEY)")
        await conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("13800138000",))
    with pytest.raises(IntegrityError) as caught:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("13800138000",))
    assert "13800138000" not in str(caught.value)
    await db.dispose()
