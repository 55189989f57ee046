"""The dispatch table is data: product rules first, then the category matrix, then the
fallback, and the shipped defaults are the DOMAIN.md responsibility list."""

from __future__ import annotations

from services.routing.domain import DEFAULT_DISPATCH, DEFAULT_MATRIX, responsible_department


def test_the_default_matrix_is_the_domain_responsibility_list() -> None:
    assert DEFAULT_MATRIX["network"] == "network_maintenance"
    assert DEFAULT_MATRIX["billing"] == "billing_support"
    assert DEFAULT_MATRIX["value_added"] == "value_added"
    assert DEFAULT_DISPATCH.fallback == "service_management"


def test_a_product_rule_wins_over_the_matrix_only_for_its_categories() -> None:
    live = {"billing": "billing_support", "network": "network_maintenance"}
    assert responsible_department("billing", live, "tencent_video") == (
        "value_added",
        "product:tencent_video",
    )
    assert responsible_department("network", live, "tencent_video") == (
        "network_maintenance",
        "matrix:network",
    )
    assert responsible_department("billing", live) == ("billing_support", "matrix:billing")


def test_an_unknown_category_falls_back() -> None:
    assert responsible_department("lottery", {}) == ("service_management", "fallback:lottery")
