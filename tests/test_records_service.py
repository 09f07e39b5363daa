"""The records service against the real platform: who may see what, and what HR sees.

A real grading round trip first (anna passes, bengt fails, through nbgrader), then every HR
page, export and API route is tried as learner, trainer, HR, admin, an HR system's token,
another service's token and no login at all. Private reflections must appear nowhere.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from urllib.parse import urlencode

import httpx
import pytest
from platform_fixture import ROOT, Platform

from omsorgslyft.authoring.parser import load_module
from omsorgslyft.learn.store import AnswerStore, PageSession
from omsorgslyft.records.store import RecordsStore

from answers import right_answers, wrong_answers

pytestmark = pytest.mark.slow

EXAMPLE = load_module(ROOT / "docs" / "exempelmodul", ROOT)
ADMIN_PASSWORD = "omsorg-demo-admin-2026-endast-lokalt"
SECRET = "HEMLIG-REFLEKTION-7f3a"
HR_TOKEN = "lonesystem-token-0123456789abcdef"
OTHER_TOKEN = "annat-token-0123456789abcdef0123"
SUBMIT_TOKEN = "inlamning-token-0123456789abcdef"
BASE = "/services/records/"

# route -> who may GET it: "register" HR, admins and (for their own units) managers; "hr"
# HR and admins alone (GDPR, import); "stats" trainers and HR
ROUTES = {
    "": "register",
    "matris": "register",
    "matris?enhet=Hemtj%C3%A4nst+Norr&status=f%C3%B6rsenad": "register",
    "anstalld/1001": "register",
    "anstalld/1001/registerutdrag": "hr",
    "import": "hr",
    "export.xlsx": "register",
    "export.csv": "register",
    "export.csv?dialekt=utf8": "register",
    "api/records": "register",
    "api/coverage": "register",
    "api/learners/anna/records": "register",
    "statistik": "stats",
    "api/statistics": "stats",
}
# the two managers of the roster (tests/fixtures/personal.csv) and the people of each unit
MANAGERS = {
    "gunilla": ("Hemtjänst Norr", ("Lindqvist", "Holm", "Sjöberg")),
    "tomas": ("Särskilt boende Björkbacken", ("Nilsson", "Åberg", "Rask")),
}


def submit(platform: Platform, learner: str, answers: dict[str, object]) -> dict[str, object]:
    reply = httpx.post(
        f"{platform.url}/services/grading/api/submissions",
        json={
            "id": uuid.uuid4().hex,
            "learner": learner,
            "module": EXAMPLE.id,
            "version": EXAMPLE.version,
            "answers": answers,
        },
        headers={"Authorization": f"token {SUBMIT_TOKEN}"},
        timeout=60,
    )
    assert reply.status_code == 201, reply.text
    data: dict[str, object] = reply.json()
    assert data["status"] == "klar", data
    return data


@pytest.fixture(scope="module")
def graded(records_platform: Platform) -> Platform:
    """anna passes and bengt fails for real; everyone writes a private reflection."""
    submit(records_platform, "anna", right_answers(EXAMPLE))
    submit(records_platform, "bengt", wrong_answers(EXAMPLE))
    store = AnswerStore(f"sqlite:///{records_platform.learn_db}")
    for learner in ("anna", "bengt", "cecilia"):
        session = PageSession(learner, EXAMPLE.id, EXAMPLE.version)
        store.save(session, "reflektion", "ref-1", f"{SECRET} {learner}")
    first = EXAMPLE.graded_questions[0]
    store.save(PageSession("cecilia", EXAMPLE.id, EXAMPLE.version), "svar", first.id, None)
    store.save(
        PageSession("cecilia", EXAMPLE.id, EXAMPLE.version), "ovning", EXAMPLE.exercises[0].id, None
    )
    store.engine.dispose()
    return records_platform


def clients(platform: Platform) -> dict[str, httpx.Client]:
    return {
        "learner": platform.login("anna"),
        "trainer": platform.login("tove"),
        "hr": platform.login("hanna"),
        "admin": platform.login("admin", ADMIN_PASSWORD),
    }


def allowed(who: str, rule: str) -> bool:
    if who in ("hr", "admin", "hr-system"):
        return True
    if who in MANAGERS:
        return rule == "register"
    return who == "trainer" and rule == "stats"


def text_of(reply: httpx.Response) -> str:
    """What a person would read in a reply: the page, the CSV, or every cell of the XLSX."""
    if reply.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(reply.content)) as book:
            return " ".join(
                book.read(n).decode("utf-8") for n in book.namelist() if n.endswith(".xml")
            )
    return reply.text


def imports(platform: Platform) -> int:
    store = RecordsStore(f"sqlite:///{platform.records_db}")
    try:
        return len(store.imports(1000))
    finally:
        store.dispose()


def test_permission_matrix(graded: Platform) -> None:
    people = clients(graded)
    tokens = {"hr-system": HR_TOKEN, "other-service": OTHER_TOKEN}
    for route, rule in ROUTES.items():
        for who, client in people.items():
            reply = client.get(BASE + route)
            if allowed(who, rule):
                assert reply.status_code == 200, (who, route, reply.status_code)
                assert "/hub/login" not in str(reply.url)
            else:
                assert reply.status_code == 403, (who, route, reply.status_code)
                assert SECRET not in reply.text and "Lindqvist" not in reply.text
        for who, token in tokens.items():
            reply = httpx.get(
                graded.url + BASE + route, headers={"Authorization": f"token {token}"}
            )
            expect = 200 if allowed(who, rule) else 403
            assert reply.status_code == expect, (who, route, reply.status_code)
        with graded.client() as anonymous:
            reply = anonymous.get(BASE + route)
            assert reply.status_code == 302, (route, reply.status_code)
            assert "/hub/api/oauth2/authorize" in reply.headers["location"]


OTHER_UNIT_ROUTES = (
    "anstalld/1003",  # Cecilia (Björkbacken)
    "api/learners/cecilia/records",
)


def test_managers_see_only_their_units(graded: Platform) -> None:
    """Each manager, on every page, export and API route: their own unit's people and never
    the other unit's, also when the other unit is asked for in the URL; none of the GDPR
    actions or the import."""
    for manager, (unit, own) in MANAGERS.items():
        other_unit, others = next(v for k, v in MANAGERS.items() if k != manager)
        client = graded.login(manager)
        for route, rule in ROUTES.items():
            reply = client.get(BASE + route)
            if rule != "register":
                assert reply.status_code == 403, (manager, route, reply.status_code)
                continue
            assert reply.status_code in (200, 404), (manager, route, reply.status_code)
            seen = text_of(reply)
            for name in others:
                assert name not in seen, (manager, route, name)
            if route.startswith(("export", "api/records", "matris")) and "enhet" not in route:
                assert own[0] in seen, (manager, route)  # their own unit's staff are there
        for route in (*OTHER_UNIT_ROUTES, "anstalld/1001", "api/learners/anna/records"):
            reply = client.get(BASE + route)
            theirs = unit == "Hemtjänst Norr"
            mine = ("1001" in route or "anna" in route) == theirs
            assert reply.status_code == (200 if mine else 404), (manager, route)
        # the other unit asked for in the URL: nothing of it
        query = "?" + urlencode({"enhet": other_unit})
        for route in ("", "matris", "export.csv", "export.xlsx", "api/records", "api/coverage"):
            reply = client.get(BASE + route + query)
            assert reply.status_code == 200, (manager, route)
            seen = text_of(reply)
            assert not any(name in seen for name in others), (manager, route)
        assert client.get(BASE + "api/records" + query).json()["count"] == 0
        assert {c["unit"] for c in client.get(BASE + "api/coverage").json()} == {unit}
        # the landing page is their unit's overview, named so
        landing = client.get("/hub/")
        assert str(landing.url).endswith(BASE), landing.url
        assert f"Min enhet: {unit}" in landing.text
        # no GDPR actions: not offered, and refused when tried
        page = client.get(BASE + "anstalld/" + ("1001" if unit == "Hemtjänst Norr" else "1004"))
        assert "registerutdrag" not in page.text and "radera" not in page.text.lower()
        target = "1099" if unit == "Hemtjänst Norr" else "1004"
        before = imports(graded)
        # her pages have no such forms; a POST from her session is refused and changes
        # nothing (the same refusals with a valid form token: test_records_managers.py)
        reply = client.post(
            BASE + f"anstalld/{target}/radera", data={"atgard": "radera", "bekrafta": target}
        )
        assert reply.status_code == 403
        assert client.post(BASE + "import", files={"fil": ("p.csv", b"x")}).status_code == 403
        assert imports(graded) == before
    hr = clients(graded)["hr"]
    assert hr.get(BASE + "anstalld/1099").status_code == 200
    assert hr.get(BASE + "anstalld/1004").status_code == 200


def test_changes_need_hr_and_a_form_token(graded: Platform) -> None:
    people = clients(graded)
    before = imports(graded)
    broken = "anställningsnummer;förnamn\n1;Anna\n"
    for who in ("learner", "trainer"):
        reply = people[who].post(BASE + "import", files={"fil": ("p.csv", broken.encode())})
        assert reply.status_code == 403, who
        reply = people[who].post(BASE + "anstalld/1099/radera", data={"atgard": "radera"})
        assert reply.status_code == 403, who
    # HR without the form's token (a cross-site request) is refused too
    reply = people["hr"].post(BASE + "anstalld/1099/radera", data={"atgard": "radera"})
    assert reply.status_code == 403
    with graded.client() as anonymous:
        assert anonymous.post(BASE + "import", files={"fil": ("p.csv", b"x")}).status_code == 403
    reply = httpx.post(
        graded.url + BASE + "anstalld/1099/radera",
        data={"atgard": "radera", "bekrafta": "1099"},
        headers={"Authorization": f"token {OTHER_TOKEN}"},
    )
    assert reply.status_code == 403
    assert imports(graded) == before
    assert people["hr"].get(BASE + "anstalld/1099").status_code == 200


def xsrf(page: str) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match, "the form has no xsrf token"
    return match.group(1)


def test_roster_upload_reports_rows_and_imports_nothing_until_confirmed(graded: Platform) -> None:
    hr = clients(graded)["hr"]
    before = imports(graded)
    page = hr.get(BASE + "import").text
    broken = (
        "anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från\n"
        "2001;Kim;Ek;kim@x.se;Hemtjänst Norr;Undersköterska;2026-01-01\n"
        "2002;Lo;;lo@x.se;Hemtjänst Norr;Undersköterska;2026-13-01\n"
    )
    reply = hr.post(
        BASE + "import",
        files={"fil": ("personal.csv", broken.encode())},
        data={"_xsrf": xsrf(page)},
    )
    assert reply.status_code == 400
    assert "Rad 3:" in reply.text and "”efternamn” är tomt" in reply.text
    assert "inget importerades" in reply.text
    assert imports(graded) == before
    # a good file: the dry run lists the change, nothing is written until confirmed
    good = (ROOT / "tests" / "fixtures" / "personal.csv").read_text(encoding="utf-8") + (
        "2001;Kim;Ek;kim@omsorg.example.se;Hemtjänst Norr;Undersköterska;2026-01-01;;kim\n"
    )
    reply = hr.post(
        BASE + "import", files={"fil": ("personal.csv", good.encode())}, data={"_xsrf": xsrf(page)}
    )
    assert reply.status_code == 200
    assert "1 nya, 0 ändrade, 0 avslutade" in reply.text and "2001 Kim Ek" in reply.text
    assert imports(graded) == before
    confirm = re.search(r'action="(/services/records/import/[^"]+)"', reply.text)
    assert confirm
    done = hr.post(confirm.group(1), data={"_xsrf": xsrf(reply.text)})
    assert done.status_code == 200 and "Importerat från personal.csv: 1 nya" in done.text
    assert imports(graded) == before + 1
    # the same plan cannot be applied twice
    again = hr.post(confirm.group(1), data={"_xsrf": xsrf(reply.text)})
    assert "Provkörningen är för gammal" in again.text
    assert imports(graded) == before + 1


def records_by_person(data: dict[str, object]) -> dict[str, dict[str, object]]:
    return {r["username"]: r for r in data["records"]}  # type: ignore[attr-defined, index]


def test_hr_sees_the_gradebook_as_records(graded: Platform) -> None:
    reply = httpx.get(
        graded.url + BASE + "api/records", headers={"Authorization": f"token {HR_TOKEN}"}
    )
    mine = records_by_person(reply.json())
    assert mine["anna"]["status"] == "godkänd" and mine["anna"]["latest_score"] == 100.0
    assert mine["anna"]["passed_on"] and mine["anna"]["valid_until"]
    assert mine["bengt"]["status"] == "försenad" and mine["bengt"]["attempts"] == 1
    assert mine["cecilia"]["status"] == "pågår"
    assert mine["david"]["status"] == "försenad"
    assert "olle" not in mine  # has left: not in today's matrix
    only_norr = httpx.get(
        graded.url + BASE + "api/records",
        params={"enhet": "Hemtjänst Norr"},
        headers={"Authorization": f"token {HR_TOKEN}"},
    ).json()
    assert {r["unit"] for r in only_norr["records"]} == {"Hemtjänst Norr"}
    coverage = httpx.get(
        graded.url + BASE + "api/coverage", headers={"Authorization": f"token {HR_TOKEN}"}
    ).json()
    norr = next(c for c in coverage if c["unit"] == "Hemtjänst Norr")
    assert norr["valid"] == 1 and not norr["meets_target"]


def test_reflections_appear_nowhere(graded: Platform) -> None:
    people = clients(graded)
    for who in ("hr", "admin", "trainer"):
        for route in ROUTES:
            reply = people[who].get(BASE + route)
            body = reply.content
            if route.startswith("export.xlsx") and reply.status_code == 200:
                with zipfile.ZipFile(io.BytesIO(body)) as book:
                    body = b"".join(book.read(n) for n in book.namelist())
            assert SECRET.encode() not in body, (who, route)
    for learner in ("anna", "bengt"):
        mine = graded.login(learner).get("/services/learn/api/mina")
        assert SECRET not in mine.text


def test_learners_see_their_own_records(graded: Platform) -> None:
    anna = graded.login("anna")
    rows = {r["id"]: r for r in anna.get("/services/learn/api/mina").json()}
    assert rows["exempelmodul"]["status"] == "godkänd" and rows["exempelmodul"]["required"]
    page = anna.get("/services/learn/").text
    assert "Godkänd" in page and "gäller till" in page
    bengt = graded.login("bengt")
    rows = {r["id"]: r for r in bengt.get("/services/learn/api/mina").json()}
    assert rows["exempelmodul"]["status"] == "försenad"
    page = bengt.get("/services/learn/").text
    assert "Försenad" in page and "Klar senast" in page
    # and nobody else's: the learn service asks only for the logged-in learner
    assert "Lindqvist" not in page and "anna" not in page


def test_a_leaver_cannot_log_in(graded: Platform) -> None:
    with graded.client() as client:
        page = client.get("/hub/login")
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        data = {"username": "olle", "password": "omsorg-demo-2026"}
        if token:
            data["_xsrf"] = token.group(1)
        reply = client.post("/hub/login", data=data)
        # the records service has already logged olle out of the hub (which also drops him
        # from the allowed users); the roster gate would refuse him otherwise
        # (tests/test_hub_settings.py::test_the_roster_gate_closes_leavers_only)
        assert reply.status_code == 403
        assert "Logga in" in reply.text
        assert client.get("/services/learn/api/mina").status_code == 302


def test_hr_erases_a_person_on_request(graded: Platform) -> None:
    hr = clients(graded)["hr"]
    page = hr.get(BASE + "anstalld/1099")
    assert page.status_code == 200 and "Radera" in page.text
    extract = hr.get(BASE + "anstalld/1099/registerutdrag").json()
    assert extract["person"]["username"] == "radera" and "anna" not in str(extract)
    wrong = hr.post(
        BASE + "anstalld/1099/radera",
        data={"atgard": "radera", "bekrafta": "1098", "_xsrf": xsrf(page.text)},
    )
    assert wrong.status_code == 400
    done = hr.post(
        BASE + "anstalld/1099/radera",
        data={"atgard": "radera", "bekrafta": "1099", "_xsrf": xsrf(page.text)},
    )
    assert done.status_code == 200 and "Uppgifterna är raderade." in done.text
    assert "1099" not in str(done.url)
    assert hr.get(BASE + "anstalld/1099").status_code == 404
    assert hr.get(BASE + "anstalld/1099/registerutdrag").status_code == 404
