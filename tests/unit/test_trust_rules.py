"""Pure trust rules: the one free-text masker, the SSRF address judgement, intake's scopes."""

from __future__ import annotations

import pytest

from services.intake import domain
from services.notify.webhooks.ssrf import _public
from shared.access import Scope, TicketFacts
from shared.phone import mask_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("回电138-0013-8000", "回电138****8000"),
        ("回电138 0013 8000", "回电138****8000"),
        ("回电+86 138 0013 8000", "回电138****8000"),
        ("回电+86-13800138000", "回电138****8000"),
        ("回电008613800138000", "回电138****8000"),
        ("回电１３８００１３８０００", "回电138****8000"),
        ("身份证110105199001011234", "身份证110105********1234"),
        ("身份证11010519900101123X", "身份证110105********123X"),
        ("姓名：张三丰，", "姓名：张**，"),
        ("客户王小明反映", "客户王**反映"),
        ("客户反映信号差", "客户反映信号差"),
        ("订单20261203123456789012", "订单20261203123456789012"),
    ],
)
def test_the_one_masker_covers_every_number_form_ids_and_names(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "::127.0.0.1",  # IPv4-compatible
        "::1",
        "::",
        "not an address",
    ],
)
def test_ipv6_forms_of_private_ipv4_count_as_private(address: str) -> None:
    assert not _public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822"])
def test_public_addresses_stay_public(address: str) -> None:
    assert _public(address)


RULES = domain.AccessRules()
HALL = TicketFacts(departments=frozenset({"service_hall"}))
PARTNER_TICKET = TicketFacts(departments=frozenset({"frontdesk_10086"}), source_org="miit_12300")
SP_TICKET = TicketFacts(departments=frozenset({"value_added"}), sp_code="SP1")


def test_an_agent_reaches_only_her_departments_tickets() -> None:
    agent = domain.Caller(roles=frozenset({"agent"}), dept="frontdesk_10086")
    assert domain.read_scope(agent, RULES).admits(PARTNER_TICKET)
    assert not domain.read_scope(agent, RULES).admits(HALL)
    assert not domain.act_scope(domain.Caller(roles=frozenset({"agent"})), RULES).admits(HALL)


def test_a_manager_reaches_sub_units_and_leadership_everything() -> None:
    manager = domain.Caller(
        roles=frozenset({"centre_manager"}),
        dept="centre",
        department_units=frozenset({"centre", "service_hall"}),
    )
    assert domain.act_scope(manager, RULES).admits(HALL)
    assert not domain.act_scope(manager, RULES).admits(SP_TICKET)
    assert domain.act_scope(domain.Caller(roles=frozenset({"leadership"})), RULES).everything


def test_ops_reads_all_acts_on_nothing_and_sees_masked_numbers() -> None:
    ops = domain.Caller(roles=frozenset({"ops"}))
    assert domain.read_scope(ops, RULES).admits(HALL)
    assert domain.act_scope(ops, RULES).empty
    assert not domain.sees_full_msisdn(ops, RULES)


def test_a_partner_reads_its_transfers_and_its_sp_and_acts_on_nothing() -> None:
    partner = domain.Caller(
        roles=frozenset({"partner"}),
        partner_orgs=frozenset({"miit_12300"}),
        sp_codes=frozenset({"SP1"}),
    )
    scope = domain.read_scope(partner, RULES)
    assert scope.admits(PARTNER_TICKET) and scope.admits(SP_TICKET)
    assert not scope.admits(HALL)
    assert domain.act_scope(partner, RULES) == Scope.nothing()
