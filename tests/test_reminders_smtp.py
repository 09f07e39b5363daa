"""Reminders through a real SMTP server on loopback (aiosmtpd, started by the test).

A small roster on real SQLite files, the example module and a course; the records are
computed on a fixed day. What arrives is read back from the server: to whom, in Swedish,
plain text and HTML, each reminder once; nothing to leavers; nothing again after a second
run, a "restart" (new store objects on the same database) or two runs at once; nothing
sent or logged while the relay is down, and everything on the next run after it is back.
"""

from __future__ import annotations

import email
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from databases import sqlite_url
from sqlalchemy import update

from omsorgslyft.dates import add_months
from omsorgslyft.grading.submissions import DONE, SubmissionLog, submission
from omsorgslyft.records.config import RecordsConfig
from omsorgslyft.records.handlers import Records
from omsorgslyft.records.model import Employee
from omsorgslyft.reminders.config import ReminderConfig
from omsorgslyft.reminders.log import ReminderLog, forget
from omsorgslyft.reminders.plan import Rules
from omsorgslyft.reminders.service import ReminderService
from omsorgslyft.reminders.smtp import SmtpSettings

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 6, 15)  # a Monday: the managers' digest goes out
PUBLIC = "https://utbildning.kommun.example.se"
SENDER = "Omsorgslyft <noreply@kommun.example.se>"
NORR = "Hemtjänst Norr"
BJORK = "Särskilt boende Björkbacken"
COURSE = """
id = "grund"
titel = "Grundkurs"
moduler = ["exempelmodul"]
befattningar = ["undersköterska"]
inom_dagar = 90
giltighet = 12
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the SMTP server --------------------------------------------------------------------------
@dataclass
class Inbox:
    """What the server accepted: (envelope sender, envelope recipients, parsed message)."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self) -> list[str]:
        return sorted(r for _, rcpts, _ in self.received for r in rcpts)

    def by_address(self) -> dict[str, EmailMessage]:
        out = {}
        for _, rcpts, message in self.received:
            for r in rcpts:
                assert r not in out, f"{r} got two messages"
                out[r] = message
        return out


@dataclass
class Relay:
    port: int
    inbox: Inbox
    controller: Controller | None = None

    def start(self, **kwargs: Any) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def running_relay() -> Iterator[Relay]:
    r = Relay(free_port(), Inbox())
    r.start()
    yield r
    r.stop()


@pytest.fixture
def relay() -> Iterator[Relay]:
    yield from running_relay()


# -- the roster, the module, the course --------------------------------------------------------
def person(
    number: str,
    first: str,
    unit: str,
    start: date,
    role: str = "Undersköterska",
    end: date | None = None,
    manages: tuple[str, ...] = (),
) -> Employee:
    return Employee(
        number=number,
        username=first.lower(),
        first_name=first,
        last_name="Testsson",
        email=f"{first.lower()}@kommun.example.se",
        unit=unit,
        role=role,
        start=start,
        end=end,
        manages=manages,
    )


def roster(today: date) -> list[Employee]:
    return [
        person("1001", "Anna", NORR, today - timedelta(days=80)),  # due in 10 days
        person("1002", "Bo", NORR, today - timedelta(days=100)),  # overdue 10 days
        person("1003", "Cia", BJORK, date(2020, 1, 1)),  # her pass runs out in 20 days
        person("1004", "Olle", NORR, date(2020, 1, 1), end=today - timedelta(days=5)),  # left
        person("1005", "Gunilla", NORR, date(2019, 1, 1), "Enhetschef", manages=(NORR,)),
        person("1006", "Nina", NORR, today - timedelta(days=20)),  # new, not started
        person(
            "1007", "Tomas", BJORK, date(2019, 1, 1), "Enhetschef", today - timedelta(1), (BJORK,)
        ),
        person("1008", "Petra", BJORK, date(2019, 1, 1), "Enhetschef", manages=(BJORK,)),
    ]


#: who gets what on ``TODAY``: Anna (due), Bo (overdue), Cia (expiring), and the digests of
#: Gunilla (Bo overdue, Nina new) and Petra (Cia expiring); not Olle or Tomas (left), not Nina
EXPECTED = sorted(f"{n}@kommun.example.se" for n in ("anna", "bo", "cia", "gunilla", "petra"))


class FixedRecords(Records):
    def __init__(self, config: RecordsConfig, today: date) -> None:
        super().__init__(config)
        self.day = today
        self.public_url = PUBLIC

    def today(self) -> date:
        return self.day


@dataclass
class World:
    root: Path
    config: RecordsConfig
    today: date
    made: list[Records] = field(default_factory=list)

    def records(self) -> Records:
        """A new records object (a new store and engine): as a restarted service has."""
        r = FixedRecords(self.config, self.today)
        self.made.append(r)
        return r

    def service(self, port: int, **changes: Any) -> ReminderService:
        smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender=SENDER, timeout=10)
        values: dict[str, Any] = {"rules": Rules(), "hour": 7, "enabled": True, **changes}
        config = ReminderConfig(smtp=smtp, public_url=PUBLIC, **values)
        moment = datetime.combine(self.today, time(8)).astimezone()
        return ReminderService(config, self.records(), clock=lambda: moment)

    def close(self) -> None:
        for r in self.made:
            r.store.dispose()


def make_world(tmp_path: Path, today: date) -> World:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "docs" / "exempelmodul", root / "modules" / "exempelmodul")
    (root / "courses").mkdir(parents=True)
    (root / "courses" / "grund.toml").write_text(COURSE, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    urls = {n: sqlite_url(data, n) for n in ("records", "submissions", "gradebook", "answers")}
    config = RecordsConfig.for_project(
        root,
        records_url=urls["records"],
        submissions_url=urls["submissions"],
        gradebook_url=urls["gradebook"],
        answers_url=urls["answers"],
    ).load()
    store = config.store(today - timedelta(days=3000))
    store.apply_import(store.plan_import(roster(today)), "personal.csv", "test")
    store.dispose()
    # Cia passed 12 months less 20 days ago: her pass is valid for 20 more days
    log = SubmissionLog(config.submissions_url)
    log.receive("s1", "cia", "exempelmodul", 1, {})
    log.finish("s1", DONE, {"score": 10.0, "max_score": 10.0, "passed": True})
    passed = datetime.combine(add_months(today, -12) + timedelta(days=20), time(10), UTC)
    with log.engine.begin() as conn:
        conn.execute(update(submission).values(graded_at=passed))
    log.engine.dispose()
    return World(root, config, today)


def fixed_world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path, TODAY)
    yield w
    w.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from fixed_world(tmp_path)


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


# -- the tests --------------------------------------------------------------------------------
def test_reminders_arrive_once_in_swedish_as_text_and_html(world: World, relay: Relay) -> None:
    report = world.service(relay.port).run(TODAY)
    assert (report.sent, report.failed, report.error) == (5, 0, "")
    assert relay.inbox.to() == EXPECTED  # not Olle or Tomas (left), nothing for Nina herself
    mail = relay.inbox.by_address()
    for sender, _, message in relay.inbox.received:
        assert sender == "noreply@kommun.example.se"
        assert message["From"].addresses[0].display_name == "Omsorgslyft"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Content-Language"] == "sv"
    title = "Exempelmodul med alla blocktyper"

    anna = mail["anna@kommun.example.se"]
    assert anna["Subject"] == "Omsorgslyft: din utbildning ska snart vara klar"
    assert anna["To"].addresses[0].display_name == "Anna Testsson"
    text, html = parts(anna)
    due = TODAY + timedelta(days=10)
    assert "Hej Anna!" in text and title in text
    assert f"Klar senast {due.day} juni 2026, om 10 dagar." in text
    assert f"{PUBLIC}/services/learn/" in text
    assert '<html lang="sv">' in html and f'href="{PUBLIC}/services/learn/"' in html
    assert "Ska snart vara klar" in html and title in html

    text, _ = parts(mail["bo@kommun.example.se"])
    assert mail["bo@kommun.example.se"]["Subject"].endswith("en utbildning som är försenad")
    assert "Skulle vara klar 5 juni 2026." in text

    text, _ = parts(mail["cia@kommun.example.se"])
    assert mail["cia@kommun.example.se"]["Subject"].endswith("godkännande går snart ut")
    assert "Godkännandet gäller till 5 juli 2026." in text

    gunilla = mail["gunilla@kommun.example.se"]
    assert gunilla["Subject"] == f"Omsorgslyft: veckobrev för {NORR} (vecka 25)"
    text, html = parts(gunilla)
    assert "Försenade eller har gått ut (1)" in text and "Bo Testsson" in text
    assert "Nyanställda som inte har börjat (1)" in text and "Nina Testsson" in text
    assert "Anna" not in text  # due, but neither late nor new
    assert "Olle" not in text and "Cia" not in text  # left; another unit
    assert f"{PUBLIC}/services/records/?enhet=Hemtj%C3%A4nst+Norr" in text
    assert "Nina Testsson" in html

    text, _ = parts(mail["petra@kommun.example.se"])
    assert "Godkännandet går ut inom 60 dagar (1)" in text and "Cia Testsson" in text

    # the log: who, what, when, never the text
    entries = ReminderLog(world.records().store).entries()
    assert sorted((e.number, e.kind.value, e.module, e.state) for e in entries) == [
        ("1001", "due", "exempelmodul", "sent"),
        ("1002", "overdue", "exempelmodul", "sent"),
        ("1003", "expiring", "exempelmodul", "sent"),
        ("1005", "digest", "", "sent"),
        ("1008", "digest", "", "sent"),
    ]
    assert all(e.sent_at is not None and e.address.endswith("@kommun.example.se") for e in entries)


def test_nothing_is_sent_twice_also_after_a_restart(world: World, relay: Relay) -> None:
    service = world.service(relay.port)
    assert service.run(TODAY).sent == 5
    assert service.run(TODAY).sent == 0  # the same process again
    restarted = world.service(relay.port)  # a new store and engine on the same database
    assert restarted.pending(TODAY) == []
    assert restarted.run(TODAY).sent == 0
    # the next days: the due reminder does not come again, the overdue one only a week later
    for days in range(1, 7):
        assert restarted.run(TODAY + timedelta(days=days)).sent == 0, days
    assert len(relay.inbox.received) == 5
    later = restarted.run(TODAY + timedelta(days=7))
    assert [o.number for o in later.outcomes] == ["1002", "1005", "1008"]  # Bo; the digests
    assert len(relay.inbox.received) == 8


def test_two_runs_at_once_send_each_reminder_once(world: World, relay: Relay) -> None:
    services = [world.service(relay.port) for _ in range(2)]
    start = threading.Barrier(2)
    reports: list[Any] = []

    def run(service: ReminderService) -> None:
        start.wait()
        reports.append(service.run(TODAY))

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.sent for r in reports) == 5
    assert relay.inbox.to() == EXPECTED
    relay.inbox.by_address()  # one message per person


def test_a_relay_that_is_down_sends_and_logs_nothing_and_the_next_run_sends(
    world: World, relay: Relay
) -> None:
    relay.stop()
    service = world.service(relay.port)
    report = service.run(TODAY)
    assert report.sent == 0 and report.error == "ConnectionRefusedError"
    assert relay.inbox.received == []
    assert service.log.entries() == []  # the claim was released: nothing logged as sent
    (run,) = service.log.runs()
    assert (run.sent, run.failed, run.error) == (0, 1, "ConnectionRefusedError")
    assert not run.ok
    assert len(service.pending(TODAY)) == 5  # still due

    relay.start()
    assert service.run(TODAY).sent == 5
    assert relay.inbox.to() == EXPECTED


def test_a_refused_recipient_is_released_and_the_others_go(world: World, relay: Relay) -> None:
    class Refusing(Inbox):
        async def handle_RCPT(
            self,
            server: SMTPServer,
            session: Session,
            envelope: Envelope,
            address: str,
            options: list[str],
        ) -> str:
            if address.startswith("bo@"):
                return "550 no such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    relay.stop()
    relay.inbox = Refusing()
    relay.start()
    service = world.service(relay.port)
    report = service.run(TODAY)
    assert (report.sent, report.failed, report.error) == (4, 1, "")
    (failed,) = [o for o in report.outcomes if not o.sent]
    assert failed.number == "1002" and failed.error == "SMTPRecipientsRefused"
    assert "bo@kommun.example.se" not in relay.inbox.to()
    assert [p.recipient.number for p in service.pending(TODAY)] == ["1002"]  # tried again


def test_erasure_forgets_a_persons_reminders(world: World, relay: Relay) -> None:
    service = world.service(relay.port)
    service.run(TODAY)
    assert forget(service.records.store, "1002") == 1
    assert "1002" not in {e.number for e in service.log.entries()}
    assert forget(service.records.store.engine, "1002") == 0


# -- STARTTLS and a login -------------------------------------------------------------------
def certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 that it signed: (ca, cert, key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test-CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_starttls_with_a_verified_certificate_and_a_login(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticator(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode()))
        ok = (data.login, data.password) == (b"omsorgslyft", b"hemligt-123")
        return AuthResult(success=ok)

    relay = Relay(free_port(), Inbox())
    relay.start(
        tls_context=context, require_starttls=True, authenticator=authenticator, auth_required=True
    )
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=relay.port,
            starttls=True,
            username="omsorgslyft",
            password="hemligt-123",
            sender=SENDER,
            timeout=10,
        )
        # the relay's certificate is not trusted: nothing goes, and nothing is logged
        untrusted = world.service(relay.port)
        untrusted = ReminderService(
            ReminderConfig(smtp=settings, public_url=PUBLIC, enabled=True),
            untrusted.records,
            untrusted.clock,
        )
        report = untrusted.run(TODAY)
        assert report.sent == 0 and report.error == "SSLCertVerificationError"
        assert relay.inbox.received == [] and logins == []
        # trusted (as the system's store would be): STARTTLS, the login, then the messages
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        assert untrusted.run(TODAY).sent == 5
        assert logins == [("omsorgslyft", "hemligt-123")]
        assert relay.inbox.to() == EXPECTED
    finally:
        relay.stop()


# -- the log on both databases ------------------------------------------------------------------
def test_claims_are_once_only_on_sqlite_and_postgresql(db_urls: dict[str, str]) -> None:
    from sqlalchemy import create_engine

    from omsorgslyft.reminders.plan import Key, Kind

    engine = create_engine(db_urls["records"])
    try:
        first, second = ReminderLog(engine), ReminderLog(engine)  # two processes' views
        due = Key(Kind.DUE, "1001", "kasam", "2026-07-01")
        late = Key(Kind.OVERDUE, "1001", "hbtqi", "2026-06-01+w0")
        assert first.claim([due, late], "a@kommun.se", "<m1@kommun.se>", TODAY) == [due, late]
        assert second.claim([due, late], "a@kommun.se", "<m2@kommun.se>", TODAY) == []
        first.mark_sent("<m1@kommun.se>")
        second.release("<m1@kommun.se>")  # a release never touches what went out
        assert second.taken([due, late, Key(Kind.DUE, "1002", "kasam", "x")]) == {due, late}
        assert second.last_weekly(TODAY - timedelta(days=7)) == {
            (Kind.OVERDUE, "1001", "hbtqi"): TODAY
        }
        assert [e.state for e in second.entries()] == ["sent", "sent"]
        other = Key(Kind.DUE, "1002", "kasam", "2026-07-01")
        assert second.claim([other], "b@kommun.se", "<m3@kommun.se>", TODAY) == [other]
        second.release("<m3@kommun.se>")
        assert first.claim([other], "b@kommun.se", "<m4@kommun.se>", TODAY) == [other]
        assert forget(engine, "1001") == 2 and {e.number for e in first.entries()} == {"1002"}
        assert first.prune(TODAY + timedelta(days=1)) == 1
    finally:
        engine.dispose()


def test_two_processes_creating_the_log_at_once(tmp_path: Path) -> None:
    """Both find the tables missing; the one that loses the race finds them made."""
    from omsorgslyft.db import make_engine

    for i in range(10):
        engines = [make_engine(sqlite_url(tmp_path, f"log{i}")) for _ in range(2)]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def create(
            engine: Any, start: threading.Barrier = start, errors: list[Any] = errors
        ) -> None:
            start.wait()
            try:
                ReminderLog(engine)
            except BaseException as exc:  # pragma: no cover - the failure being tested
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for e in engines:
            e.dispose()
        assert errors == []
