"""Who is reminded of what on a day (pure: records in, plan out), and the e-mails' text."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from omsorgslyft.records.model import CompetenceRecord, Employee, Status
from omsorgslyft.reminders import messages
from omsorgslyft.reminders.log import Run
from omsorgslyft.reminders.plan import (
    Digest,
    EmployeeReminder,
    Key,
    Kind,
    Rules,
    iso_week,
    plan_day,
    plan_digests,
    plan_employees,
)
from omsorgslyft.reminders.schedule import RETRY, due_now, next_run

TODAY = date(2026, 6, 15)  # Monday, ISO week 25
RULES = Rules()


def person(number: str = "1001", **changes: object) -> Employee:
    values: dict[str, object] = {
        "number": number,
        "username": f"p{number}",
        "first_name": "Anna",
        "last_name": "Lind",
        "email": f"p{number}@kommun.se",
        "unit": "Hemtjänst Norr",
        "role": "Undersköterska",
        "start": date(2020, 1, 1),
    }
    values.update(changes)
    return Employee(**values)  # type: ignore[arg-type]


def record(
    employee: Employee,
    status: Status,
    due: date = TODAY,
    valid_until: date | None = None,
    module: str = "kasam",
) -> CompetenceRecord:
    return CompetenceRecord(
        employee, module, module.upper(), ("grund",), status, due, 1, valid_until=valid_until
    )


def kinds(records: list[CompetenceRecord], today: date = TODAY, **last: date) -> list[Key]:
    out = plan_employees(
        records, today, RULES, {(Kind(k), "1001", "kasam"): d for k, d in last.items()}
    )
    return [k for r in out for k in r.keys]


def test_before_the_due_date_within_the_setting_only() -> None:
    anna = person()
    for days, expected in ((15, []), (14, ["due"]), (1, ["due"]), (0, ["due"])):
        got = kinds([record(anna, Status.NOT_STARTED, TODAY + timedelta(days=days))])
        assert [k.kind.value for k in got] == expected, days
    (key,) = kinds([record(anna, Status.IN_PROGRESS, TODAY + timedelta(days=3))])
    assert key == Key(Kind.DUE, "1001", "kasam", "2026-06-18")  # the due date is the period
    off = plan_employees([record(anna, Status.NOT_STARTED, TODAY)], TODAY, Rules(due_days=0), {})
    assert off == []


def test_overdue_once_in_each_week_and_never_twice_in_seven_days() -> None:
    anna = person()
    due = TODAY - timedelta(days=1)
    periods = [
        kinds([record(anna, Status.OVERDUE, due)], due + timedelta(days=d))[0].period
        for d in (1, 7, 8, 14, 15)
    ]
    assert periods == [f"{due}+w0", f"{due}+w0", f"{due}+w1", f"{due}+w1", f"{due}+w2"]
    # sent on day 6 of week 0: not again on day 8 (week 1), only from day 13
    sent = due + timedelta(days=6)
    for d, expected in ((8, 0), (12, 0), (13, 1)):
        got = kinds([record(anna, Status.OVERDUE, due)], due + timedelta(days=d), overdue=sent)
        assert len(got) == expected, d


def test_before_a_pass_runs_out_and_weekly_after() -> None:
    anna = person()
    for days, expected in ((31, []), (30, ["expiring"]), (0, ["expiring"])):
        status = Status.EXPIRING if days <= 60 else Status.PASSED
        got = kinds([record(anna, status, valid_until=TODAY + timedelta(days=days))])
        assert [k.kind.value for k in got] == expected, days
    (key,) = kinds([record(anna, Status.EXPIRED, valid_until=TODAY - timedelta(days=3))])
    assert (key.kind, key.period) == (Kind.EXPIRED, f"{TODAY - timedelta(days=3)}+w0")
    assert kinds([record(anna, Status.PASSED, valid_until=TODAY + timedelta(days=400))]) == []


def test_one_message_per_person_most_pressing_first() -> None:
    anna = person()
    planned = plan_employees(
        [
            record(anna, Status.EXPIRING, valid_until=TODAY + timedelta(days=5), module="a"),
            record(anna, Status.NOT_STARTED, TODAY + timedelta(days=5), module="b"),
            record(anna, Status.OVERDUE, TODAY - timedelta(days=5), module="c"),
        ],
        TODAY,
        RULES,
    )
    (message,) = planned
    assert [i.key.kind for i in message.items] == [Kind.OVERDUE, Kind.DUE, Kind.EXPIRING]
    assert messages.subject(message) == "Omsorgslyft: du har en utbildning som är försenad"
    assert messages.summary(message) == "försenad: c; klar snart: b; godkännandet går ut: a"
    only = message.only([message.items[1].key])
    assert [i.record.module for i in only.items] == ["b"]


def test_nobody_who_has_left_or_not_yet_started() -> None:
    left = person("1", end=TODAY - timedelta(days=1))
    inactive = person("2", active=False)
    future = person("3", start=TODAY + timedelta(days=3))
    last_day = person("4", end=TODAY)  # still employed today
    records = [
        record(p, Status.OVERDUE, TODAY - timedelta(days=2))
        for p in (left, inactive, future, last_day)
    ]
    assert [r.recipient.number for r in plan_employees(records, TODAY, RULES)] == ["4"]


def test_digest_for_each_managers_units_once_a_week() -> None:
    gunilla = person("9", first_name="Gunilla", role="Enhetschef", manages=("Hemtjänst Norr",))
    left = person("8", role="Enhetschef", manages=("Hemtjänst Norr",), end=TODAY - timedelta(1))
    bo = person("2", first_name="Bo")
    new = person("3", first_name="Nina", start=TODAY - timedelta(days=20))
    older = person("4", first_name="Olof", start=TODAY - timedelta(days=61))
    elsewhere = person("5", unit="Björkbacken")
    records = [
        record(bo, Status.OVERDUE, TODAY - timedelta(days=3)),
        record(bo, Status.EXPIRING, valid_until=TODAY + timedelta(days=50), module="hbtqi"),
        record(new, Status.NOT_STARTED, TODAY + timedelta(days=70)),
        record(new, Status.IN_PROGRESS, TODAY + timedelta(days=70), module="hbtqi"),
        record(older, Status.NOT_STARTED, TODAY + timedelta(days=29)),
        record(elsewhere, Status.OVERDUE, TODAY - timedelta(days=3)),
    ]
    people = [gunilla, left, bo, new, older, elsewhere]
    (digest,) = plan_digests(records, people, TODAY, RULES)
    assert digest.recipient is gunilla and digest.key == Key(Kind.DIGEST, "9", "", "2026-W25")
    assert [(r.employee.number, r.module) for r in digest.overdue] == [("2", "kasam")]
    assert [(r.employee.number, r.module) for r in digest.expiring] == [("2", "hbtqi")]
    assert [(s.employee.number, [r.module for r in s.modules]) for s in digest.new_staff] == [
        ("3", ["kasam"])  # started hbtqi; Olof is not new
    ]
    # from the weekday on (a Monday missed goes out on Tuesday, the same week's key)
    tuesday = plan_digests(records, people, TODAY + timedelta(days=1), RULES)
    assert [d.key for d in tuesday] == [digest.key]
    assert plan_digests(records, people, TODAY, Rules(digest_weekday=3)) == []
    assert plan_digests(records, people, TODAY, Rules(digest_weekday=0)) == []
    # nothing to say: no letter
    assert plan_digests(records[-1:], people, TODAY, RULES) == []
    text = messages.text_body(digest, TODAY, "https://x.se")
    assert (
        "Försenade eller har gått ut (1)" in text and "Nyanställda som inte har börjat (1)" in text
    )
    assert "https://x.se/services/records/?enhet=Hemtj%C3%A4nst+Norr" in text
    assert iso_week(date(2027, 1, 1)) == "2026-W53"


def test_the_html_part_escapes_what_the_roster_says() -> None:
    evil = person(first_name="<script>alert(1)</script>", last_name="&")
    rec = record(evil, Status.OVERDUE, TODAY - timedelta(days=1))
    (reminder,) = plan_employees([rec._replace(module_title="<b>KASAM</b>")], TODAY, RULES)
    html = messages.html_body(reminder, TODAY, 'https://x.se/"><script>')
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;KASAM&lt;/b&gt;" in html
    message = messages.build(reminder, TODAY, "https://x.se", "noreply@kommun.se")
    assert message["From"] == "Omsorgslyft <noreply@kommun.se>"
    assert message["Message-ID"].endswith("@kommun.se>")
    with pytest.raises(ValueError):
        messages.build(reminder, TODAY, "https://x.se", "inte en adress")


def test_swedish_dates_and_days() -> None:
    assert messages.day_text(date(2026, 7, 1)) == "1 juli 2026"
    assert [messages.days_text(d) for d in (0, 1, 5)] == ["i dag", "i morgon", "om 5 dagar"]


def test_plan_day_is_both() -> None:
    gunilla = person("9", manages=("Hemtjänst Norr",), role="Enhetschef")
    bo = person("2")
    planned = plan_day(
        [record(bo, Status.OVERDUE, TODAY - timedelta(days=1))], [gunilla, bo], TODAY, RULES
    )
    assert [type(p) for p in planned] == [EmployeeReminder, Digest]


def test_rules_are_checked() -> None:
    for bad in (Rules(due_days=-1), Rules(expiry_days=366), Rules(digest_weekday=8)):
        with pytest.raises(ValueError):
            bad.check()


def run(day: date, started: datetime, ok: bool) -> Run:
    return Run(
        1, day, started, started + timedelta(minutes=1), "tjänsten", 1, int(ok), int(not ok), ""
    )


def test_schedule_once_a_day_from_the_hour_and_retried_after_a_failure() -> None:
    seven = datetime(2026, 6, 15, 7, 0).astimezone()
    early = seven - timedelta(minutes=1)
    assert not due_now(early, 7, []) and next_run(early, 7, []) == seven
    assert due_now(seven, 7, []) and next_run(seven, 7, []) == seven
    done = [run(seven.date(), seven, ok=True)]
    assert not due_now(seven + timedelta(hours=5), 7, done)
    assert next_run(seven + timedelta(hours=5), 7, done) == seven + timedelta(days=1)
    failed = [run(seven.date(), seven, ok=False)]
    assert not due_now(seven + timedelta(minutes=10), 7, failed)
    assert next_run(seven + timedelta(minutes=10), 7, failed) == seven + RETRY
    assert due_now(seven + RETRY, 7, failed)
