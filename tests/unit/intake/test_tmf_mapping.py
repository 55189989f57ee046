"""The one TMF621 mapping: severities, ticket types, statuses (pure)."""

from __future__ import annotations

from services.intake import tmf_mapping as m


def test_a_stated_severity_shows_unless_our_judgement_ranks_higher() -> None:
    assert m.canonical_severity(" high ") == "High" and m.canonical_severity("soon") is None
    assert m.shown_severity("Low", "normal") == "Low"
    assert m.shown_severity("High", "normal") == "High"
    assert m.shown_severity("Low", "urgent") == "Critical"
    assert m.shown_severity("Major", "major") == "Major"
    assert m.shown_severity(None, "major") == "Major"


def test_known_ticket_types_map_to_our_categories_and_others_to_the_classifier() -> None:
    assert m.category_for("Connectivity") == "network"
    assert m.category_for("value Added") == "value_added"
    assert m.category_for("problem") is None


def test_every_tmf_status_selects_some_of_ours_and_the_table_is_in_the_openapi_text() -> None:
    assert set(m.STATUS_FROM_TMF) == set(m.TMF_STATUSES)
    assert all(m.STATUS_FROM_TMF[s] for s in m.TMF_STATUSES)
    assert m.STATUS_FROM_TMF["acknowledged"] == ("received", "accepted")
    assert "| High | major |" in m.MAPPING_MARKDOWN
    assert "| connectivity, network, coverage, signal, outage | network |" in m.MAPPING_MARKDOWN
