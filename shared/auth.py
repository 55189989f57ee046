"""OAuth2 bearer JWT: HS256 with a shared secret (embedded) or RS256 via JWKS (production)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import Problem
from shared.settings import ServiceSettings

ROLES = (
    "agent",
    "frontline",
    "room_manager",
    "centre_manager",
    "leadership",
    "ops",
    "partner",
    "billing",
    "customer_profile",
)

_bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer JWT (`make token ROLE=...`)")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    sub: str
    name: str
    roles: frozenset[str]
    dept: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def mint_token(
    *,
    secret: str,
    sub: str,
    roles: list[str],
    name: str | None = None,
    dept: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    algorithm: str = "HS256",
) -> str:
    """Sign a token with the embedded default's shared secret (dev and tests)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "name": name or sub,
        "roles": roles,
        "iat": now,
        "exp": now + ttl,
    }
    if dept:
        claims["dept"] = dept
    return jwt.encode(claims, secret, algorithm=algorithm)


class TokenVerifier:
    """Verifies bearer tokens according to the service settings."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None

    def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            if s.jwt_algorithm == "RS256":
                if self._jwks is None:
                    raise jwt.InvalidTokenError("no JWKS configured")
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
            else:
                key = s.jwt_secret
            claims = jwt.decode(
                token,
                key,
                algorithms=[s.jwt_algorithm],
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                options={"require": ["sub", "exp"], "verify_aud": s.jwt_audience is not None},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise Problem(
                401, "Invalid token", str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Problem(401, "Invalid token", "claim 'roles' must be a list of strings")
        return Principal(
            sub=str(claims["sub"]),
            name=str(claims.get("name") or claims["sub"]),
            roles=frozenset(roles),
            dept=claims.get("dept"),
            claims=claims,
        )


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer token; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(
            401,
            "Not authenticated",
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers with any of `roles`; 403 otherwise."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise Problem(403, "Forbidden", f"requires one of the roles: {', '.join(roles)}")
        return principal

    return dependency
