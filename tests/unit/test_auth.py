"""Bearer JWT verification: who may call, and the clear 401s for everyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.auth import TokenVerifier, mint_token
from shared.errors import Problem
from shared.settings import DEV_JWT_SECRET, ServiceSettings

VERIFIER = TokenVerifier(ServiceSettings())


def test_a_dev_token_carries_the_staff_identity_roles_and_department() -> None:
    token = mint_token(
        secret=DEV_JWT_SECRET,
        sub="A1001",
        roles=["agent", "ops"],
        name="王芳",
        dept="frontdesk_10086",
    )
    principal = VERIFIER.verify(token)
    assert principal.sub == "A1001" and principal.name == "王芳"
    assert principal.roles == {"agent", "ops"} and principal.dept == "frontdesk_10086"
    assert principal.has_any("ops") and not principal.has_any("leadership")


@pytest.mark.parametrize(
    "token",
    [
        mint_token(secret="another-secret-another-secret-0000", sub="x", roles=["agent"]),
        mint_token(secret=DEV_JWT_SECRET, sub="x", roles=["agent"], ttl=timedelta(seconds=-5)),
        "not.a.jwt",
    ],
    ids=["wrong-secret", "expired", "garbage"],
)
def test_bad_tokens_are_401(token: str) -> None:
    with pytest.raises(Problem) as info:
        VERIFIER.verify(token)
    assert info.value.status == 401


def test_roles_must_be_a_list_of_strings() -> None:
    import jwt

    token = jwt.encode({"sub": "x", "roles": "agent", "exp": 2**31}, DEV_JWT_SECRET, "HS256")
    with pytest.raises(Problem, match="roles"):
        VERIFIER.verify(token)
