"""The roster -> hub groups reconcile plan (pure)."""

from __future__ import annotations

from datetime import date

from omsorgslyft.records.hubsync import plan_sync, role_group, slug, unit_group
from omsorgslyft.records.model import Employee

TODAY = date(2026, 11, 23)


def person(name: str, unit: str, role: str, end: date | None = None) -> Employee:
    return Employee(name, name, name, "E", f"{name}@x.se", unit, role, date(2024, 1, 1), end)


def test_slugs_are_plain_ascii() -> None:
    assert slug("Särskilt boende Björkbacken") == "sarskilt-boende-bjorkbacken"
    assert slug("  Hemtjänst  Norr!! ") == "hemtjanst-norr"
    assert unit_group("Hemtjänst Norr") == "enhet:hemtjanst-norr"
    assert role_group("Undersköterska") == "befattning:underskoterska"
    assert slug("???") == "okand"


def test_groups_follow_the_roster_for_users_the_hub_knows() -> None:
    roster = [
        person("anna", "Hemtjänst Norr", "Undersköterska"),
        person("bengt", "Hemtjänst Norr", "Vårdbiträde"),
        person("cecilia", "Björkbacken", "Undersköterska"),
        person("olle", "Björkbacken", "Vårdbiträde", end=date(2026, 11, 1)),  # has left
    ]
    hub_groups = {
        "utbildare": {"tove"},  # not managed: left alone
        "enhet:hemtjanst-norr": {"anna", "cecilia"},  # cecilia moved to Björkbacken
        "enhet:bjorkbacken": {"olle"},
    }
    plan = plan_sync(roster, {"anna", "cecilia", "olle", "tove"}, hub_groups, TODAY)
    assert "utbildare" not in plan.add and "utbildare" not in plan.remove
    assert plan.add["enhet:bjorkbacken"] == ("cecilia",)
    assert plan.remove["enhet:hemtjanst-norr"] == ("cecilia",)
    assert plan.remove["enhet:bjorkbacken"] == ("olle",)
    assert plan.add["befattning:underskoterska"] == ("anna", "cecilia")
    # bengt has never logged in: his groups exist, he joins after his first login
    assert "befattning:vardbitrade" in plan.create
    assert "befattning:vardbitrade" not in plan.add
    assert plan.log_out == ("olle",)


def test_a_second_pass_changes_nothing() -> None:
    roster = [person("anna", "Hemtjänst Norr", "Undersköterska")]
    first = plan_sync(roster, {"anna"}, {}, TODAY)
    groups = {g: set(first.add.get(g, ())) for g in first.create}
    assert plan_sync(roster, {"anna"}, groups, TODAY).empty
