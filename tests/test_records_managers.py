"""What a manager (enhetschef) may do in the register, decided by the records service from
the hub's scope filter and today's roster. The real records app and store; only the hub's
answer to "who is this?" is stood in for, and the form-token check is off, so every refusal
below is the permission's. tests/test_records_service.py covers the same through the real hub.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hub_standin import BIRCH, NORTH, Hub, person
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from omsorgslyft.hub.roles import HR_SCOPE, manager_scope
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.handlers import Records, access_of
from omsorgslyft.records.service import make_app

PREFIX = "/services/records/"


@pytest.fixture
def records(tmp_path: Path) -> Iterator[Records]:
    config = RecordsConfig(
        modules_dir=tmp_path / "modules",
        courses_dir=tmp_path / "courses",
        records_url=f"sqlite:///{tmp_path / 'records.db'}",
        submissions_url=f"sqlite:///{tmp_path / 'submissions.db'}",
    )
    (tmp_path / "modules").mkdir()
    (tmp_path / "courses").mkdir()
    records = Records(config)
    store = records.store
    staff = [
        person("1", "anna", NORTH),
        person("2", "cecilia", BIRCH),
        person("3", "gunilla", NORTH, manages=(NORTH,)),
        person("4", "tomas", BIRCH, manages=(BIRCH,)),
    ]
    store.apply_import(store.plan_import(staff), "p.csv", "test")
    Hub.people = {
        "gunilla": [manager_scope(NORTH)],
        "tomas": [manager_scope(BIRCH)],
        "hanna": [HR_SCOPE],
        # the hub still says so, the roster no longer does
        "anna": [manager_scope(NORTH)],
        # the roster says so, the hub's filter does not (a unit she does not manage)
        "fel": [manager_scope(BIRCH)],
    }
    yield records
    store.dispose()


def call(records: Records, who: str, method: str, path: str, **form: str) -> tuple[int, str]:
    auth = Hub(
        api_token="t" * 32,
        api_url="http://127.0.0.1:9/hub/api",
        oauth_client_id="service-records",
        base_url=PREFIX,
        hub_prefix="/hub/",
    )

    async def fetch() -> tuple[int, str]:
        sock, port = bind_unused_port()
        app = make_app(records, PREFIX, auth, "/hub/")
        # the form token is the hub's to check (test_records_service.py): off here, so a
        # refusal is the permission's alone
        app.settings["disable_check_xsrf"] = True
        server = HTTPServer(app)
        server.add_sockets([sock])
        client = AsyncHTTPClient()
        try:
            reply = await client.fetch(
                f"http://127.0.0.1:{port}{PREFIX}{path}",
                method=method,
                headers={"X-Test-User": who},
                body=urlencode(form) if method == "POST" else None,
                follow_redirects=False,
                raise_error=False,
            )
            return reply.code, reply.body.decode("utf-8", "replace")
        except HTTPClientError as exc:  # pragma: no cover - raise_error=False
            return exc.code, ""
        finally:
            server.stop()
            client.close()

    return asyncio.run(fetch())


def test_the_access_rule() -> None:
    assert access_of([HR_SCOPE], []).hr
    gunilla = access_of([manager_scope(NORTH), "access:services!service=records"], [NORTH, BIRCH])
    assert not gunilla.hr and gunilla.units == {NORTH}  # the hub's filter and the roster
    assert not access_of([manager_scope(NORTH)], []).any  # no longer a manager in the roster
    assert not access_of([], [NORTH]).any  # the hub has not given the scope


def test_a_manager_sees_her_unit_and_cannot_erase_or_import(records: Records) -> None:
    code, body = call(records, "gunilla", "GET", "api/records")
    assert code == 200
    assert {r["unit"] for r in json.loads(body)["records"]} <= {NORTH}
    code, body = call(records, "gunilla", "GET", "")
    assert code == 200 and "Min enhet: Hemtjänst Norr" in body and "Efternamn2" not in body
    assert call(records, "gunilla", "GET", "anstalld/1")[0] == 200
    assert call(records, "gunilla", "GET", "anstalld/2")[0] == 404  # another unit's
    assert call(records, "tomas", "GET", "anstalld/1")[0] == 404
    # GDPR, import, statistics: HR's (a valid request, refused for the permission alone)
    for method, path, form in (
        ("POST", "anstalld/1/radera", {"atgard": "radera", "bekrafta": "1"}),
        ("GET", "anstalld/1/registerutdrag", {}),
        ("GET", "import", {}),
        ("POST", "import", {}),
        ("GET", "statistik", {}),
    ):
        assert call(records, "gunilla", method, path, **form)[0] == 403, path
    assert records.store.employee_by_number("1") is not None
    # HR's same request goes through
    code, _ = call(records, "hanna", "POST", "anstalld/1/radera", atgard="radera", bekrafta="1")
    assert code == 302 and records.store.employee_by_number("1") is None


def test_the_roster_and_the_hub_must_both_say_so(records: Records) -> None:
    # anna's token still carries a manager's filter, but the roster says she manages none
    assert call(records, "anna", "GET", "")[0] == 403
    assert call(records, "anna", "GET", "export.csv")[0] == 403
    # "fel" is in no roster; a filter for a unit is not enough
    assert call(records, "fel", "GET", "api/records")[0] == 403
    # a manager who leaves the unit in the roster loses it at the next request
    store = records.store
    staff = [e for e in store.employees() if e.username != "gunilla"]
    staff.append(person("3", "gunilla", NORTH))  # no longer "chef för enhet"
    store.apply_import(store.plan_import(staff), "p2.csv", "test")
    assert call(records, "gunilla", "GET", "")[0] == 403
