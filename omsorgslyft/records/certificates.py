"""Certificates (intyg): issued by the register, verified against it, live.

One source for validity: a certificate is issued only for a pass that the register counts
(the same :func:`~omsorgslyft.records.compute.compute_records` as every HR page), and a
verification asks the register again on the day it is made. So a certificate stops being
valid when the pass runs out, when a new module version under "gör om" makes the passed
version no longer count, when a formgrader correction takes the pass away, when a renewal
replaces it with a newer pass (and a newer certificate), and when the person is erased or
pseudonymised (:func:`forget` deletes their certificates; the roster row is gone anyway).

A module that no course requires of the person (frivillig) is valid for the module's own
``giltighet`` from its front matter, as *Mina utbildningar* shows it, under the register's
rules (:func:`omsorgslyft.records.rules.record`, a new version keeps the pass).

The table ``certificate`` holds only what ties a code to a pass: the code, the
anställningsnummer, module, version, pass day and when it was issued. Name, title and
validity are read from the register each time. One pass (employee, module, version, pass
day) has one code: asking again gives the same certificate.

Codes: 15 characters of Crockford's base32 (no I, L, O or U), 14 of them random (70 bits)
and a check character (Damm's algorithm over GF(32)), shown in groups of five:
``K7QH3-MZPX9-4TAB5``. The check character catches a mistyped character or two swapped
neighbours before any lookup; with 70 random bits a guess finds one of a million
certificates once in 10^15 tries.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omsorgslyft.records.compute import compute_records
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.model import VALID, Attempt, CompetenceRecord, Employee, Requirement
from omsorgslyft.records.rules import record
from omsorgslyft.records.store import RecordsStore

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
RANDOM_CHARS = 14  # 70 bits
CODE_CHARS = RANDOM_CHARS + 1  # and the check character
GROUP = 5
# what people type for what they mean (Crockford): O for 0, I and L for 1
_READ_AS = {"O": "0", "I": "1", "L": "1"}
_SEPARATORS = " -‐‑‒–—_."

metadata = MetaData()

certificate = Table(
    "certificate",
    metadata,
    Column("code", String(CODE_CHARS), primary_key=True),  # without the dashes
    Column("employee", String(200), nullable=False, index=True),  # anställningsnummer
    Column("module", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("passed_on", Date, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("employee", "module", "version", "passed_on", name="certificate_pass"),
)

_created: weakref.WeakSet[Engine] = weakref.WeakSet()
_created_lock = threading.Lock()


def ensure_table(engine: Engine) -> None:
    """Create the table in the records database (once per engine)."""
    with _created_lock:
        if engine not in _created:
            metadata.create_all(engine)
            _created.add(engine)


# -- codes ---------------------------------------------------------------------------------
def _gf32_times_x(value: int) -> int:
    """``value`` times the generator x in GF(32) (modulus x^5 + x^2 + 1)."""
    value <<= 1
    return value ^ 0b100101 if value & 0b100000 else value


def _interim(chars: str) -> int:
    """Damm's algorithm over the quasigroup ``a * b = x·a + b`` of GF(32): since x != 1,
    ``(c*a)*b == (c*b)*a`` only when ``a == b``, so every single wrong character and every
    swap of two neighbours (the check character included) changes the result."""
    interim = 0
    for char in chars:
        interim = _gf32_times_x(interim) ^ ALPHABET.index(char)
    return interim


def _check_char(payload: str) -> str:
    """The character that brings the code's interim to 0 (``x·r + c = 0``, so ``c = x·r``)."""
    return ALPHABET[_gf32_times_x(_interim(payload))]


def new_code() -> str:
    """A fresh code, without dashes (15 characters)."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return payload + _check_char(payload)


def pretty(code: str) -> str:
    """``K7QH3MZPX94TAB5`` -> ``K7QH3-MZPX9-4TAB5``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def parse_code(text: str) -> str | None:
    """The code someone typed or scanned, without dashes; None if it cannot be a code
    (wrong length, a character outside the alphabet, or the check character disagrees)."""
    chars = [c for c in text.strip().upper() if c not in _SEPARATORS]
    code = "".join(_READ_AS.get(c, c) for c in chars)
    if len(code) != CODE_CHARS or any(c not in ALPHABET for c in code):
        return None
    if _interim(code) != 0:
        return None
    return code


def short_name(person: Employee) -> str:
    """First name and the initial of the last name: enough to match a certificate to the
    person who shows it, too little to find anyone with."""
    first = person.first_name.strip()
    last = person.last_name.strip()
    return f"{first} {last[0]}." if last else first


# -- the register's word -------------------------------------------------------------------
@dataclass(frozen=True)
class Counted:
    """The register's record of one person on one module, and the attempt it counts."""

    record: CompetenceRecord
    attempt: Attempt | None


_validity_cache: dict[Path, dict[str, int]] = {}
_validity_lock = threading.Lock()


def module_validity(config: RecordsConfig) -> dict[str, int]:
    """Each module's own ``giltighet`` (months), read from the modules once."""
    from omsorgslyft.authoring.discover import load_modules

    folder = config.modules_dir
    with _validity_lock:
        if folder not in _validity_cache:
            modules, _ = load_modules([folder], folder.parent) if folder.is_dir() else ([], [])
            _validity_cache[folder] = {m.id: m.validity_months for m in modules}
        return _validity_cache[folder]


def counted(
    config: RecordsConfig, store: RecordsStore, person: Employee, module: str, today: date
) -> Counted | None:
    """What the register says of ``person`` on ``module`` today (None: it has no record).

    Required modules: exactly the register's record (leavers included: a certificate is
    still worth something to the next employer). A module no course requires: the same
    rules with the module's own validity."""
    found = [
        r
        for r in compute_records(
            store,
            config.courses,
            config.pass_marks,
            today,
            person.username,
            include_inactive=True,
        )
        if r.module == module
    ]
    attempts = store.attempts(config.pass_marks, person.username).get((person.username, module), [])
    if found:
        rec = found[0]
    else:
        months = module_validity(config).get(module)
        version = store.versions().get(module)
        if months is None or version is None:
            return None
        rec = record(
            person, Requirement(module, 0, months, False, ()), version, attempts, (), today
        )
    best = None
    for a in reversed(attempts):
        if a.passed and a.version == rec.passed_version and a.graded_at.date() == rec.passed_on:
            best = a
            break
    return Counted(rec, best)


# -- issuing and verifying -----------------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    """A certificate as the learn service draws it."""

    code: str  # with dashes
    name: str  # the whole name: the person's own document
    module: str
    module_title: str
    version: int
    passed_on: date
    valid_until: date
    score: float | None
    max_score: float | None


@dataclass(frozen=True)
class Verified:
    """What the public page says of a valid certificate: as little as does the job."""

    code: str
    name: str  # first name and initial
    module_title: str
    version: int
    passed_on: date
    valid_until: date
    checked_on: date


def issue(
    config: RecordsConfig, store: RecordsStore, username: str, module: str, today: date
) -> Issued | None:
    """The certificate of ``username``'s pass of ``module``, if the register counts it as
    valid today (created the first time, the same one after that); else None."""
    person = store.employee_by_username(username)
    if person is None:
        return None
    got = counted(config, store, person, module, today)
    if got is None:
        return None
    rec = got.record
    if rec.status not in VALID or rec.passed_on is None or rec.passed_version is None:
        return None
    assert rec.valid_until is not None
    ensure_table(store.engine)
    code = _code_for(store.engine, person.number, module, rec.passed_version, rec.passed_on)
    return Issued(
        code=pretty(code),
        name=person.name,
        module=module,
        module_title=rec.module_title,
        version=rec.passed_version,
        passed_on=rec.passed_on,
        valid_until=rec.valid_until,
        score=got.attempt.score if got.attempt else None,
        max_score=got.attempt.max_score if got.attempt else None,
    )


def _existing(conn: Connection, number: str, module: str, version: int, day: date) -> str | None:
    found = conn.execute(
        select(certificate.c.code).where(
            certificate.c.employee == number,
            certificate.c.module == module,
            certificate.c.version == version,
            certificate.c.passed_on == day,
        )
    ).scalar()
    return str(found) if found is not None else None


def _code_for(engine: Engine, number: str, module: str, version: int, day: date) -> str:
    for _ in range(5):
        with engine.begin() as conn:
            code = _existing(conn, number, module, version, day)
            if code is not None:
                return code
        try:
            code = new_code()
            with engine.begin() as conn:
                conn.execute(
                    certificate.insert().values(
                        code=code,
                        employee=number,
                        module=module,
                        version=version,
                        passed_on=day,
                        issued_at=datetime.now(UTC),
                    )
                )
            return code
        except IntegrityError:
            continue  # issued at the same moment by another request (or, never, the same code)
    raise RuntimeError("could not issue a certificate code")


def verify(config: RecordsConfig, store: RecordsStore, code: str, today: date) -> Verified | None:
    """The certificate behind ``code`` if it is valid today; None for every other case
    (malformed, unknown, erased, expired, superseded), so that a reply never tells whether
    a code exists."""
    canonical = parse_code(code)
    if canonical is None:
        return None
    ensure_table(store.engine)
    with store.engine.connect() as conn:
        row = conn.execute(select(certificate).where(certificate.c.code == canonical)).first()
    if row is None:
        return None
    person = store.employee_by_number(row.employee)
    if person is None or not person.first_name or person.username.startswith("anonym-"):
        return None
    got = counted(config, store, person, row.module, today)
    if got is None:
        return None
    rec = got.record
    if (
        rec.status not in VALID
        or rec.passed_version != row.version
        or rec.passed_on != row.passed_on
        or rec.valid_until is None
    ):
        return None
    return Verified(
        code=pretty(canonical),
        name=short_name(person),
        module_title=rec.module_title,
        version=row.version,
        passed_on=row.passed_on,
        valid_until=rec.valid_until,
        checked_on=today,
    )


def of_person(store: RecordsStore, number: str) -> list[dict[str, str | int]]:
    """The certificates of anställningsnummer ``number``, for the register extract."""
    ensure_table(store.engine)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(certificate)
            .where(certificate.c.employee == number)
            .order_by(certificate.c.issued_at)
        ).all()
    return [
        {
            "kod": pretty(r.code),
            "modul": r.module,
            "version": r.version,
            "godkand": r.passed_on.isoformat(),
            "utfardat": r.issued_at.isoformat(),
        }
        for r in rows
    ]


def forget(conn: Connection, number: str) -> int:
    """Delete every certificate of anställningsnummer ``number`` (erasure and
    pseudonymisation, inside their transaction: :func:`ensure_table` first); returns how
    many."""
    result = conn.execute(delete(certificate).where(certificate.c.employee == number))
    return int(result.rowcount or 0)
