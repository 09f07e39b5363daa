"""Certificates: issued by the register, verified against it, live (SQLite and PostgreSQL).

The core (``omsorgslyft.records.certificates``) with a fixed ``today``; then the public
verify page of the real records service, started as its own process, over HTTP with no
login at all.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from platform_fixture import free_port
from sqlalchemy import func, select, update

from omsorgslyft.grading.submissions import DONE, SubmissionLog, submission
from omsorgslyft.model import Course, NewVersionRule
from omsorgslyft.records import certificates
from omsorgslyft.records.certificates import (
    ALPHABET,
    CODE_CHARS,
    RANDOM_CHARS,
    certificate,
    issue,
    new_code,
    parse_code,
    pretty,
    verify,
)
from omsorgslyft.records.config import ModuleFacts, RecordsConfig
from omsorgslyft.records.gdpr import erase, register_extract
from omsorgslyft.records.model import Employee
from omsorgslyft.records.store import RecordsStore
from omsorgslyft.records.verify_pages import MAX_FAILURES

ROOT = Path(__file__).resolve().parents[1]
PASSED = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
TODAY = date(2026, 3, 1)
GRUND = Course(
    "grund", "Grund", "", ("kasam",), ("undersköterska",), (), 90, 36, NewVersionRule.KEEP
)

ANNA = Employee(
    number="K5501",
    username="anna.andersson",
    first_name="Anna",
    last_name="Andersson",
    email="anna.andersson@kommun.se",
    unit="Hemtjänst Norr",
    role="undersköterska",
    start=date(2025, 1, 1),
)
BERTIL = replace(
    ANNA,
    number="K7781",
    username="bertil.bergstrom",
    first_name="Bertil",
    last_name="Bergström",
    email="bertil.bergstrom@kommun.se",
)
# never on the public page
ANNA_PRIVATE = ("K5501", "anna.andersson", "Andersson", "kommun.se", "Hemtjänst Norr")


def make_config(db_urls: dict[str, str], tmp_path: Path, *courses: Course) -> RecordsConfig:
    return RecordsConfig(
        modules_dir=tmp_path / "modules",
        courses_dir=tmp_path / "courses",
        records_url=db_urls["records"],
        submissions_url=db_urls["submissions"],
        answers_url=db_urls["answers"],
        modules={
            "kasam": ModuleFacts("kasam", "Salutogenes och KASAM", 1, 80),
            "exempelmodul": ModuleFacts("exempelmodul", "Exempelmodul med alla blocktyper", 1, 80),
        },
        courses=courses or (GRUND,),
    )


def graded(
    cfg: RecordsConfig,
    who: Employee,
    score: float,
    at: datetime = PASSED,
    module: str = "kasam",
    version: int = 1,
) -> None:
    """A graded submission in the real submission log, graded at ``at``."""
    log = SubmissionLog(cfg.submissions_url)
    sid = f"{who.username}-{module}-{at.isoformat()}"
    log.receive(sid, who.username, module, version, {"k1": "a"})
    log.finish(sid, DONE, {"score": score, "max_score": 10.0, "passed": score >= 8})
    with log.engine.begin() as conn:
        conn.execute(update(submission).where(submission.c.id == sid).values(graded_at=at))
    log.engine.dispose()


@pytest.fixture
def world(db_urls: dict[str, str], tmp_path: Path) -> Iterator[tuple[RecordsConfig, RecordsStore]]:
    cfg = make_config(db_urls, tmp_path)
    store = cfg.store(date(2025, 1, 1))
    store.apply_import(store.plan_import([ANNA, BERTIL]), "personal.csv", "test")
    yield cfg, store
    store.dispose()


def count(store: RecordsStore) -> int:
    certificates.ensure_table(store.engine)
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(certificate)).scalar_one())


# -- codes ---------------------------------------------------------------------------------
def test_codes_are_random_long_typeable_and_checked() -> None:
    assert RANDOM_CHARS * 5 >= 60  # bits of randomness
    codes = [new_code() for _ in range(3000)]
    assert len(set(codes)) == len(codes)
    for code in codes[:200]:
        assert len(code) == CODE_CHARS and set(code) <= set(ALPHABET)
        assert re.fullmatch(
            r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", pretty(code)
        )
        assert parse_code(pretty(code)) == code
    # every character turns up in every random position (the codes are not patterned)
    for position in range(RANDOM_CHARS):
        assert {c[position] for c in codes} == set(ALPHABET), position

    code = codes[0]
    # what people type: small letters, spaces, no dashes, O for 0, I and L for 1
    typed = pretty(code).lower().replace("-", " ")
    assert parse_code(typed) == code
    assert parse_code(f"  {code}  ") == code
    with_letters = code.replace("0", "O").replace("1", "I")
    assert parse_code(with_letters) == code
    # a mistyped character or two swapped neighbours is caught before any lookup
    for code in codes[:20]:
        for i in range(CODE_CHARS):
            for other in ALPHABET:
                if other != code[i]:
                    assert parse_code(code[:i] + other + code[i + 1 :]) is None, (code, i)
    # every swap of two different neighbours in every position, the check character's
    # included: each pair of characters put into a valid code there, then swapped
    for i in range(CODE_CHARS - 1):
        for a in ALPHABET:
            for b in ALPHABET:
                payload = (code[:i] + a + b + code[i + 2 :])[:RANDOM_CHARS]
                valid = payload + certificates._check_char(payload)
                assert parse_code(valid) == valid
                if valid[i] != valid[i + 1]:
                    swapped = valid[:i] + valid[i + 1] + valid[i] + valid[i + 2 :]
                    assert parse_code(swapped) is None, (valid, i)
    for wrong in ("", "K7QH3", code + "0", code[:-1], "Ü" * CODE_CHARS, "U" * CODE_CHARS):
        assert parse_code(wrong) is None


# -- issuing -------------------------------------------------------------------------------
def test_issuing_refuses_what_the_register_does_not_count(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    # not in the roster
    assert issue(cfg, store, "okand", "kasam", TODAY) is None
    # in the roster, nothing graded
    assert issue(cfg, store, ANNA.username, "kasam", TODAY) is None
    # a failed attempt
    graded(cfg, ANNA, 5.0)
    assert issue(cfg, store, ANNA.username, "kasam", TODAY) is None
    # a module that does not exist
    assert issue(cfg, store, ANNA.username, "finns-inte", TODAY) is None
    assert count(store) == 0

    graded(cfg, ANNA, 9.0, PASSED + timedelta(hours=1))
    got = issue(cfg, store, ANNA.username, "kasam", TODAY)
    assert got is not None
    assert (got.name, got.module, got.module_title, got.version) == (
        "Anna Andersson",
        "kasam",
        "Salutogenes och KASAM",
        1,
    )
    # validity from the course (36 months), not from the module
    assert (got.passed_on, got.valid_until) == (date(2026, 2, 10), date(2029, 2, 10))
    assert (got.score, got.max_score) == (9.0, 10.0)  # the pass, not the latest attempt
    assert parse_code(got.code) is not None
    # Bertil has nothing: a certificate is one person's
    assert issue(cfg, store, BERTIL.username, "kasam", TODAY) is None


def test_the_same_pass_gives_the_same_code(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    graded(cfg, ANNA, 9.0)
    first = issue(cfg, store, ANNA.username, "kasam", TODAY)
    again = issue(cfg, store, ANNA.username, "kasam", TODAY + timedelta(days=30))
    assert first is not None and again is not None
    assert again.code == first.code
    assert count(store) == 1

    # many requests at once still make one certificate
    found: list[str] = []

    def ask() -> None:
        got = issue(cfg, store, ANNA.username, "kasam", TODAY)
        assert got is not None
        found.append(got.code)

    graded(cfg, BERTIL, 10.0)
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(found) == {first.code}

    # a renewal is a new pass: a new certificate, and the old one no longer counts
    renewed_at = datetime(2028, 12, 20, 10, tzinfo=UTC)
    graded(cfg, ANNA, 10.0, renewed_at)
    day = date(2029, 1, 5)
    renewed = issue(cfg, store, ANNA.username, "kasam", day)
    assert renewed is not None and renewed.code != first.code
    assert renewed.passed_on == date(2028, 12, 20)
    assert verify(cfg, store, renewed.code, day) is not None
    assert verify(cfg, store, first.code, day) is None


# -- verifying -----------------------------------------------------------------------------
def test_verify_says_little_and_follows_the_register_day_by_day(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    graded(cfg, ANNA, 9.0)
    got = issue(cfg, store, ANNA.username, "kasam", TODAY)
    assert got is not None
    seen = verify(cfg, store, got.code, TODAY)
    assert seen is not None
    assert seen.name == "Anna A."
    assert (seen.module_title, seen.version) == ("Salutogenes och KASAM", 1)
    assert (seen.passed_on, seen.valid_until, seen.checked_on) == (
        date(2026, 2, 10),
        date(2029, 2, 10),
        TODAY,
    )
    text = repr(seen)
    assert not any(part in text for part in ANNA_PRIVATE)
    # typed by hand, the same
    assert verify(cfg, store, got.code.lower().replace("-", ""), TODAY) == seen
    # the last valid day, and the day after
    assert verify(cfg, store, got.code, date(2029, 2, 10)) is not None
    assert verify(cfg, store, got.code, date(2029, 2, 11)) is None
    # unknown and malformed codes
    assert verify(cfg, store, new_code(), TODAY) is None
    assert verify(cfg, store, "K7QH3-MZPX9-4TAB0", TODAY) is None


def test_a_shorter_course_validity_shortens_the_certificate(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Validity is the register's: where a stricter course also asks for the module, the
    certificate (issued before) follows it."""
    cfg, store = world
    graded(cfg, ANNA, 9.0)
    got = issue(cfg, store, ANNA.username, "kasam", TODAY)
    assert got is not None
    strict = Course(
        "strikt", "Strikt", "", ("kasam",), (), ("hemtjänst norr",), 30, 12, NewVersionRule.KEEP
    )
    stricter = replace(cfg, courses=(GRUND, strict))
    seen = verify(stricter, store, got.code, TODAY)
    assert seen is not None and seen.valid_until == date(2027, 2, 10)
    assert verify(stricter, store, got.code, date(2027, 2, 11)) is None
    assert verify(cfg, store, got.code, date(2027, 2, 11)) is not None


def test_a_new_version_to_retake_ends_the_certificate(world) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    retake = replace(GRUND, new_version=NewVersionRule.RETAKE)
    cfg = replace(cfg, courses=(retake,))
    graded(cfg, ANNA, 9.0)
    graded(cfg, BERTIL, 9.0)
    anna = issue(cfg, store, ANNA.username, "kasam", TODAY)
    bertil = issue(cfg, store, BERTIL.username, "kasam", TODAY)
    assert anna is not None and bertil is not None
    store.note_versions([("kasam", "Salutogenes och KASAM", 2)], TODAY + timedelta(days=10))
    later = TODAY + timedelta(days=11)
    assert verify(cfg, store, anna.code, later) is None
    assert issue(cfg, store, ANNA.username, "kasam", later) is None
    # under "behåll" the same pass still counts
    keep = replace(cfg, courses=(GRUND,))
    assert verify(keep, store, anna.code, later) is not None
    # Bertil passes version 2: his new certificate is valid, the old one not
    graded(cfg, BERTIL, 10.0, datetime(2026, 3, 12, 8, tzinfo=UTC), version=2)
    renewed = issue(cfg, store, BERTIL.username, "kasam", later + timedelta(days=1))
    assert renewed is not None and renewed.version == 2
    assert verify(cfg, store, renewed.code, later + timedelta(days=1)) is not None
    assert verify(cfg, store, bertil.code, later + timedelta(days=1)) is None


@pytest.mark.parametrize("mode", ["radera", "pseudonymisera"])
def test_erasure_ends_the_certificate(world, mode: str) -> None:  # type: ignore[no-untyped-def]
    cfg, store = world
    graded(cfg, ANNA, 9.0)
    graded(cfg, BERTIL, 9.0)
    anna = issue(cfg, store, ANNA.username, "kasam", TODAY)
    bertil = issue(cfg, store, BERTIL.username, "kasam", TODAY)
    assert anna is not None and bertil is not None
    extract = register_extract(cfg, store, ANNA.number, today=TODAY)
    assert extract is not None
    assert [(c["kod"], c["modul"], c["godkand"]) for c in extract["intyg"]] == [
        (anna.code, "kasam", "2026-02-10")
    ]
    assert erase(cfg, store, ANNA.number, mode, by="hr") is not None
    assert verify(cfg, store, anna.code, TODAY) is None
    assert count(store) == 1  # Bertil's, untouched
    assert verify(cfg, store, bertil.code, TODAY) is not None
    # nothing is issued for the pseudonym either
    assert issue(cfg, store, ANNA.username, "kasam", TODAY) is None


def test_a_leaver_keeps_a_valid_certificate_until_retention(world) -> None:  # type: ignore[no-untyped-def]
    """The next employer may verify it: leaving does not end it; the retention rule's
    pseudonymisation does."""
    cfg, store = world
    graded(cfg, ANNA, 9.0)
    got = issue(cfg, store, ANNA.username, "kasam", TODAY)
    assert got is not None
    left = replace(ANNA, end=date(2026, 4, 30))
    store.apply_import(store.plan_import([left, BERTIL]), "personal.csv", "test")
    assert verify(cfg, store, got.code, date(2026, 6, 1)) is not None
    from omsorgslyft.records.gdpr import apply_retention

    assert apply_retention(cfg, store, date(2028, 5, 1), by="gallring")
    assert verify(cfg, store, got.code, date(2028, 5, 1)) is None


def test_an_optional_module_counts_with_its_own_validity(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A module no course asks of the person: the module's own ``giltighet`` (36 months
    for the example module), as Mina utbildningar shows it."""
    cfg, store = world
    shutil.copytree(ROOT / "docs" / "exempelmodul", tmp_path / "modules" / "exempelmodul")
    store.note_versions([("exempelmodul", "Exempelmodul med alla blocktyper", 1)], TODAY)
    graded(cfg, ANNA, 9.0, module="exempelmodul")
    got = issue(cfg, store, ANNA.username, "exempelmodul", TODAY)
    assert got is not None
    assert got.valid_until == date(2029, 2, 10)
    assert verify(cfg, store, got.code, date(2029, 2, 10)) is not None
    assert verify(cfg, store, got.code, date(2029, 2, 11)) is None


# -- the public page, through the real records service ----------------------------------------
COURSE = """
id = "grund"
titel = "Grundkurs"
moduler = ["exempelmodul"]
befattningar = ["undersköterska"]
inom_dagar = 90
giltighet = 36
"""


class Service:
    def __init__(self, url: str, cfg: RecordsConfig, store: RecordsStore) -> None:
        self.url = url
        self.cfg = cfg
        self.store = store

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``python -m omsorgslyft.records.service`` on its own databases, no hub behind it."""
    tmp = tmp_path_factory.mktemp("verify")
    project = tmp / "project"
    shutil.copytree(ROOT / "docs" / "exempelmodul", project / "modules" / "exempelmodul")
    (project / "courses").mkdir()
    (project / "courses" / "grund.toml").write_text(COURSE, encoding="utf-8")
    urls = {name: f"sqlite:///{tmp / name}.db" for name in ("records", "submissions", "answers")}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env["JUPYTERHUB_SERVICE_PREFIX"] = "/services/records/"
    log = (tmp / "records.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omsorgslyft.records.service",
            f"--root={project}",
            f"--db-url={urls['records']}",
            f"--submissions-url={urls['submissions']}",
            f"--gradebook-url=sqlite:///{tmp / 'gradebook'}.db",
            f"--answers-url={urls['answers']}",
            f"--port={port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/services/records/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "records.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "intyg", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, (tmp / "records.log").read_text()
            time.sleep(0.3)
        cfg = RecordsConfig.for_project(
            project,
            records_url=urls["records"],
            submissions_url=urls["submissions"],
            answers_url=urls["answers"],
        ).load()
        store = cfg.store()
        store.apply_import(store.plan_import([ANNA, BERTIL]), "personal.csv", "test")
        yield Service(url, cfg, store)
        store.dispose()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def page_text(reply: httpx.Response) -> str:
    """The page's words, without tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", reply.text)).strip()


@pytest.mark.slow
def test_the_verify_page_needs_no_login_and_shows_little(service: Service) -> None:
    now = datetime.now(UTC)
    graded(service.cfg, ANNA, 10.0, now, module="exempelmodul")
    got = issue(service.cfg, service.store, ANNA.username, "exempelmodul", date.today())
    assert got is not None

    reply = service.get(f"intyg/{got.code}")  # no cookie, no token
    assert reply.status_code == 200
    text = page_text(reply)
    assert "Intyget är giltigt" in text
    assert "Anna A." in text
    assert "Exempelmodul med alla blocktyper, version 1" in text
    assert got.code in text
    assert not any(part in reply.text for part in ANNA_PRIVATE), text
    assert reply.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    assert "noindex" in reply.headers["X-Robots-Tag"]
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert "set-cookie" not in reply.headers
    assert '<html lang="sv">' in reply.text

    # the form sends a typed code on to its page
    form = service.get("intyg")
    assert form.status_code == 200 and 'name="kod"' in form.text
    typed = service.get("intyg", params={"kod": got.code.lower().replace("-", " ")})
    assert typed.status_code == 302
    assert typed.headers["location"] == f"/services/records/intyg/{got.code}"
    # a typo is caught by the check character
    wrong = got.code[:-1] + ("0" if got.code[-1] != "0" else "1")
    assert "Koden är felskriven" in page_text(service.get(f"intyg/{wrong}"))
    assert "Koden är felskriven" in page_text(service.get("intyg", params={"kod": "ABC"}))

    # an unknown code says exactly what a code of someone erased says
    unknown = pretty(new_code())
    before = service.get(f"intyg/{unknown}")
    assert "Intyget gäller inte" in page_text(before)
    assert erase(service.cfg, service.store, ANNA.number, "radera", by="hr") is not None
    after = service.get(f"intyg/{got.code}")
    assert after.status_code == before.status_code == 200
    assert "Intyget gäller inte" in page_text(after)
    assert after.text.replace(got.code, "CODE") == before.text.replace(unknown, "CODE")
    assert "Anna" not in after.text


@pytest.mark.slow
def test_guessing_is_limited_per_address(service: Service) -> None:
    graded(service.cfg, BERTIL, 10.0, datetime.now(UTC), module="exempelmodul")
    got = issue(service.cfg, service.store, BERTIL.username, "exempelmodul", date.today())
    assert got is not None
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(MAX_FAILURES):
        reply = service.get(f"intyg/{pretty(new_code())}", headers=guesser)
        assert reply.status_code == 200 and "Intyget gäller inte" in page_text(reply)
    # malformed codes cost nothing: they are not lookups
    assert service.get("intyg/ABC", headers=guesser).status_code == 200
    refused = service.get(f"intyg/{got.code}", headers=guesser)
    assert refused.status_code == 429
    assert "För många försök" in page_text(refused) and "Bertil" not in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    # someone else is not held up
    other = service.get(f"intyg/{got.code}", headers={"X-Forwarded-For": "198.51.100.2"})
    assert other.status_code == 200 and "Intyget är giltigt" in page_text(other)
