"""HR cannot end the admin's or a trainer's account with a roster upload (the real platform).

The records service asks the hub, at each upload and again at the confirmation, who the
admins, trainers and HR are; a row naming one is refused with the row number, in Swedish,
and nothing in the roster changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from platform_fixture import ROOT, Platform

from omsorgslyft.records.model import Employee
from omsorgslyft.records.store import RecordsStore

pytestmark = pytest.mark.slow

BASE = "/services/records/"
ADMIN_PASSWORD = "omsorg-demo-admin-2026-endast-lokalt"
ROSTER = (ROOT / "tests" / "fixtures" / "personal.csv").read_text(encoding="utf-8")
FIRST_NEW_ROW = len(ROSTER.splitlines()) + 1  # the header is row 1


def refused(row: int, name: str) -> str:
    return (
        f"Rad {row}: ”{name}” är ett administratörs-, utbildar- eller HR-konto och kan inte "
        "importeras från personallistan."
    )


def records_db(platform: Platform) -> Path:
    where = getattr(platform, "records_db", None)
    return Path(where) if where else platform.data / "records.db"


def roster_state(platform: Platform) -> tuple[list[Employee], list[tuple[object, ...]]]:
    """Everyone in the roster (with whether they are active) and the import log."""
    store = RecordsStore(f"sqlite:///{records_db(platform)}")
    try:
        people = store.employees(include_inactive=True)
        return people, [tuple(i.values()) for i in store.imports(1000)]
    finally:
        store.dispose()


def xsrf(page: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match, "the form has no xsrf token"
    return match.group(1)


def upload(hr: httpx.Client, text: str) -> httpx.Response:
    page = hr.get(BASE + "import")
    assert page.status_code == 200
    return hr.post(
        BASE + "import",
        files={"fil": ("personal.csv", text.encode())},
        data={"_xsrf": xsrf(page.text)},
    )


def test_hr_cannot_import_the_admin_a_trainer_or_hr(records_platform: Platform) -> None:
    hr = records_platform.login("hanna")
    before = roster_state(records_platform)
    attack = (
        ROSTER
        + "9001;Ad;Min;admin@omsorg.example.se;Hemtjänst Norr;Undersköterska;2020-01-01;2026-01-31;admin\n"
        + "9002;Tove;Tränare;tove@omsorg.example.se;Hemtjänst Norr;Vårdbiträde;2020-01-01;2026-01-31;tove\n"
        + "9003;Hanna;Hr;hanna@omsorg.example.se;Hemtjänst Norr;Vårdbiträde;2020-01-01;;hanna\n"
    )
    reply = upload(hr, attack)
    assert reply.status_code == 400
    assert refused(FIRST_NEW_ROW, "admin") in reply.text
    assert refused(FIRST_NEW_ROW + 1, "tove") in reply.text  # in the hub group utbildare
    assert refused(FIRST_NEW_ROW + 2, "hanna") in reply.text  # in the hub group hr
    assert "3 fel, inget importerades" in reply.text
    assert 'action="/services/records/import/' not in reply.text  # nothing to confirm
    assert roster_state(records_platform) == before
    # and their accounts are as they were
    assert records_platform.login("tove").get("/hub/api/user").status_code == 200
    assert records_platform.login("admin", ADMIN_PASSWORD).get("/hub/api/user").status_code == 200


def admin_api(platform: Platform) -> httpx.Client:
    reply = httpx.post(
        f"{platform.url}/hub/api/users/admin/tokens",
        json={
            "auth": {"username": "admin", "password": ADMIN_PASSWORD},
            "scopes": ["admin:users", "admin:groups"],
            "expires_in": 600,
            "note": "test: make a trainer",
        },
        timeout=30,
    )
    assert reply.status_code in (200, 201), reply.text
    return httpx.Client(
        base_url=f"{platform.url}/hub/api/",
        headers={"Authorization": f"token {reply.json()['token']}"},
        timeout=30,
    )


def test_someone_made_a_trainer_after_the_dry_run_is_refused_at_confirmation(
    records_platform: Platform,
) -> None:
    hr = records_platform.login("hanna")
    before = roster_state(records_platform)
    newcomer = "nyutbildare"
    text = (
        ROSTER
        + f"9010;Ny;Utbildare;ny@omsorg.example.se;Hemtjänst Norr;Vårdbiträde;2026-01-01;;{newcomer}\n"
    )
    dry_run = upload(hr, text)
    assert dry_run.status_code == 200, dry_run.text[-2000:]
    assert "9010 Ny Utbildare" in dry_run.text
    confirm = re.search(r'action="(/services/records/import/[^"]+)"', dry_run.text)
    assert confirm
    with admin_api(records_platform) as hub:
        assert hub.post(f"users/{newcomer}").status_code == 201
        try:
            reply = hub.post("groups/utbildare/users", json={"users": [newcomer]})
            assert reply.status_code == 200, reply.text
            done = hr.post(confirm.group(1), data={"_xsrf": xsrf(dry_run.text)})
            assert done.status_code == 400
            assert refused(FIRST_NEW_ROW, newcomer) in done.text
            assert "inget importerades" in done.text
            assert roster_state(records_platform) == before
        finally:
            hub.request("DELETE", "groups/utbildare/users", json={"users": [newcomer]})
            hub.delete(f"users/{newcomer}")


def test_a_hub_admin_by_any_name_is_refused(records_platform: Platform) -> None:
    """Not only "admin": whoever the hub says is an admin (its user list, admin flag)."""
    hr = records_platform.login("hanna")
    before = roster_state(records_platform)
    chief = "driftchef"
    text = (
        ROSTER
        + f"9020;Drift;Chef;drift@omsorg.example.se;Hemtjänst Norr;Vårdbiträde;2020-01-01;2026-01-31;{chief}\n"
    )
    with admin_api(records_platform) as hub:
        assert hub.post(f"users/{chief}", json={"admin": True}).status_code == 201
        try:
            reply = upload(hr, text)
            assert reply.status_code == 400
            assert refused(FIRST_NEW_ROW, chief) in reply.text
            assert roster_state(records_platform) == before
        finally:
            hub.delete(f"users/{chief}")
