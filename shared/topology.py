"""Where each service lives and which path prefixes it owns (gateway, ingress, runner)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    app: str
    prefixes: tuple[str, ...]

    @property
    def docs_prefix(self) -> str:
        return f"/{self.name}"

    def settings(self) -> ServiceSettings:
        """The service's own settings class, read from the environment."""
        module = importlib.import_module(f"services.{self.name}.settings")
        cls = getattr(module, f"{self.name.capitalize()}Settings")
        settings: ServiceSettings = cls()
        return settings


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "intake",
        8001,
        "services.intake.app:create_app",
        (
            "/v1/complaints",
            "/v1/partner",
            "/v1/reports",
            "/v1/access-audit",
            "/tmf-api/troubleTicket/v4/troubleTicket",
        ),
    ),
    ServiceSpec(
        "routing",
        8002,
        "services.routing.app:create_app",
        (
            "/v1/assignments",
            "/v1/queues",
            "/v1/departments",
            "/v1/responsibility",
            "/v1/staff-directory",
            "/v1/surges",
            "/v1/incidents",
        ),
    ),
    ServiceSpec("sla", 8003, "services.sla.app:create_app", ("/v1/sla", "/v1/calendar")),
    ServiceSpec(
        "refund", 8004, "services.refund.app:create_app", ("/v1/refunds", "/v1/sp-disputes")
    ),
    ServiceSpec(
        "notify",
        8005,
        "services.notify.app:create_app",
        ("/v1/notifications", "/v1/webhooks", "/tmf-api/troubleTicket/v4/hub"),
    ),
)
SERVICE_NAMES = tuple(s.name for s in SERVICES)
GATEWAY_PORT = 8000


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def owner_of(path: str) -> ServiceSpec | None:
    """The service owning a path: longest matching prefix, on a segment boundary."""
    best: tuple[int, ServiceSpec] | None = None
    for spec in SERVICES:
        for prefix in (*spec.prefixes, spec.docs_prefix):
            if _under(path, prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), spec)
    return best[1] if best else None


def spec(name: str) -> ServiceSpec:
    return next(s for s in SERVICES if s.name == name)
