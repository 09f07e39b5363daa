"""The reminder e-mails: Swedish, in plain language, as plain text and HTML
(multipart/alternative), each with a link to the platform.

Many readers have Swedish as a second language: short sentences, dates written out
("1 juli 2026"), one thing to do, and the link.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import date
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from urllib.parse import urlencode

from omsorgslyft.dates import long_date as day_text
from omsorgslyft.records.model import CompetenceRecord, Employee, Status
from omsorgslyft.reminders.plan import KIND_ORDER, Digest, EmployeeReminder, Kind, Planned

#: a digest lists at most this many people per section (the register has the rest)
DIGEST_LINES = 50
LEARN_PATH = "/services/learn/"
RECORDS_PATH = "/services/records/"

SUBJECTS = {
    Kind.OVERDUE: "Omsorgslyft: du har en utbildning som är försenad",
    Kind.EXPIRED: "Omsorgslyft: ditt godkännande har gått ut",
    Kind.DUE: "Omsorgslyft: din utbildning ska snart vara klar",
    Kind.EXPIRING: "Omsorgslyft: ditt godkännande går snart ut",
}
HEADINGS = {
    Kind.OVERDUE: "Försenad (skulle redan vara klar)",
    Kind.EXPIRED: "Ditt godkännande har gått ut",
    Kind.DUE: "Ska snart vara klar",
    Kind.EXPIRING: "Ditt godkännande går snart ut",
}
# what a kind is called in the log, the dry run and the HR page
KIND_NAMES = {
    Kind.DUE: "klar snart",
    Kind.OVERDUE: "försenad",
    Kind.EXPIRING: "godkännandet går ut",
    Kind.EXPIRED: "godkännandet har gått ut",
    Kind.DIGEST: "veckobrev till chef",
}


def days_text(days: int) -> str:
    return {0: "i dag", 1: "i morgon"}.get(days, f"om {days} dagar")


def _line(kind: Kind, r: CompetenceRecord, today: date) -> str:
    if kind is Kind.DUE:
        return (
            f"{r.module_title}. Klar senast {day_text(r.due)}, {days_text((r.due - today).days)}."
        )
    if kind is Kind.OVERDUE:
        return f"{r.module_title}. Skulle vara klar {day_text(r.due)}."
    assert r.valid_until is not None
    if kind is Kind.EXPIRING:
        return (
            f"{r.module_title}. Godkännandet gäller till {day_text(r.valid_until)}. "
            "Gör kunskapskontrollen igen före det."
        )
    return (
        f"{r.module_title}. Godkännandet gällde till {day_text(r.valid_until)}. "
        "Gör kunskapskontrollen igen."
    )


def summary(planned: Planned) -> str:
    """What a message is about, without its text: "försenad: kasam; klar snart: hbtqi"."""
    if isinstance(planned, Digest):
        return f"{KIND_NAMES[Kind.DIGEST]}: {', '.join(planned.units)}"
    return "; ".join(f"{KIND_NAMES[i.key.kind]}: {i.key.module}" for i in planned.items)


def subject(planned: Planned) -> str:
    if isinstance(planned, Digest):
        week = planned.week.split("-W")[1].lstrip("0")
        return f"Omsorgslyft: veckobrev för {', '.join(planned.units)} (vecka {week})"
    kinds = {i.key.kind for i in planned.items}
    return SUBJECTS[min(kinds, key=KIND_ORDER.index)]


Section = tuple[str, list[str]]  # a heading and its lines


def _employee_sections(reminder: EmployeeReminder, today: date) -> list[Section]:
    sections: list[Section] = []
    for kind in KIND_ORDER:
        lines = [_line(kind, i.record, today) for i in reminder.items if i.key.kind is kind]
        if lines:
            sections.append((HEADINGS[kind], lines))
    return sections


def _capped(lines: list[str], total: int) -> list[str]:
    if total > len(lines):
        lines.append(f"… och {total - len(lines)} till. Se alla i kompetensregistret.")
    return lines


def _when(r: CompetenceRecord) -> str:
    """What a manager reads about one record: the date that matters, in words."""
    if r.status is Status.OVERDUE or r.valid_until is None:
        return f"skulle vara klar {day_text(r.due)}"
    if r.status is Status.EXPIRED:
        return f"godkännandet gällde till {day_text(r.valid_until)}"
    return f"godkännandet gäller till {day_text(r.valid_until)}"


def _per_person(records: Sequence[CompetenceRecord], who: Callable[[Employee], str]) -> list[str]:
    """One line per person (in the records' order): their modules, and the date."""
    people: dict[str, list[CompetenceRecord]] = {}
    for r in records:
        people.setdefault(r.employee.number, []).append(r)
    lines = []
    for rs in people.values():
        dates = {_when(r) for r in rs}
        if len(dates) == 1:
            titles = "; ".join(r.module_title for r in rs)  # titles may hold commas
            lines.append(f"{who(rs[0].employee)}: {titles}. {dates.pop().capitalize()}.")
        else:
            each = "; ".join(f"{r.module_title} ({_when(r)})" for r in rs)
            lines.append(f"{who(rs[0].employee)}: {each}.")
    return lines


def _digest_sections(digest: Digest) -> list[Section]:
    many = len(digest.units) > 1

    def who(e: Employee) -> str:
        return f"{e.name} ({e.unit})" if many else e.name

    overdue = _per_person(digest.overdue, who)
    expiring = _per_person(digest.expiring, who)
    new = [
        f"{who(s.employee)}, anställd från {day_text(s.employee.start)}. "
        f"Har inte börjat med: {'; '.join(r.module_title for r in s.modules)}."
        for s in digest.new_staff
    ]
    sections: list[Section] = []
    for heading, lines in (
        ("Försenade eller har gått ut", overdue),
        ("Godkännandet går ut inom 60 dagar", expiring),
        ("Nyanställda som inte har börjat", new),
    ):
        if lines:
            sections.append(
                (f"{heading} ({len(lines)})", _capped(lines[:DIGEST_LINES], len(lines)))
            )
    return sections


def _link(planned: Planned, public_url: str) -> str:
    base = public_url.rstrip("/")
    if isinstance(planned, Digest):
        query = "?" + urlencode({"enhet": planned.units[0]}) if len(planned.units) == 1 else ""
        return f"{base}{RECORDS_PATH}{query}"
    return f"{base}{LEARN_PATH}"


def _parts(planned: Planned, today: date) -> tuple[str, str, list[Section], str, str]:
    """Greeting, introduction, sections, the link's words, the closing line."""
    first = planned.recipient.first_name or planned.recipient.name
    if isinstance(planned, Digest):
        units = ", ".join(planned.units)
        return (
            f"Hej {first}!",
            f"Här är veckans läge för {'dina enheter' if len(planned.units) > 1 else 'din enhet'} "
            f"{units}.",
            _digest_sections(planned),
            "Se hela listan i kompetensregistret:",
            "Du får det här brevet varje vecka eftersom du är chef för enheten.",
        )
    return (
        f"Hej {first}!",
        "Det här är en påminnelse om din utbildning i Omsorgslyft.",
        _employee_sections(planned, today),
        "Logga in och gör utbildningen här:",
        "Har du frågor? Prata med din chef.",
    )


def text_body(planned: Planned, today: date, public_url: str) -> str:
    greeting, intro, sections, link_words, closing = _parts(planned, today)
    out = [greeting, "", intro, ""]
    for heading, lines in sections:
        out.append(f"{heading}:")
        out.extend(f"- {line}" for line in lines)
        out.append("")
    out += [
        link_words,
        _link(planned, public_url),
        "",
        closing,
        "",
        "Hälsningar",
        "Omsorgslyft",
        "",
        "Det här mejlet skickas automatiskt. Du kan inte svara på det.",
    ]
    return "\n".join(out) + "\n"


def html_body(planned: Planned, today: date, public_url: str) -> str:
    greeting, intro, sections, link_words, closing = _parts(planned, today)
    e = html.escape
    link = _link(planned, public_url)
    body = [
        f"<p>{e(greeting)}</p>",
        f"<p>{e(intro)}</p>",
    ]
    for heading, lines in sections:
        body.append(f'<h2 style="font-size:1.1em;margin:1.2em 0 .4em">{e(heading)}</h2>')
        body.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>")
    body += [
        f"<p>{e(link_words)}<br>"
        f'<a href="{e(link)}" style="color:#0b5c4d;font-weight:bold">{e(link)}</a></p>',
        f"<p>{e(closing)}</p>",
        "<p>Hälsningar<br>Omsorgslyft</p>",
        '<p style="color:#3d4a45;font-size:.9em">'
        "Det här mejlet skickas automatiskt. Du kan inte svara på det.</p>",
    ]
    return (
        '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(subject(planned))}</title></head>"
        '<body style="font-family:system-ui,sans-serif;font-size:16px;line-height:1.5;'
        'color:#1b1b1b;max-width:40em">' + "\n".join(body) + "</body></html>"
    )


def sender_address(sender: str) -> tuple[str, str]:
    """(display name, address) of the operator's sender ("Omsorgslyft" if it has no name)."""
    name, address = parseaddr(sender)
    if "@" not in address:
        raise ValueError(f"the sender {sender!r} is no e-mail address")
    return name or "Omsorgslyft", address


def build(planned: Planned, today: date, public_url: str, sender: str) -> EmailMessage:
    """The e-mail for ``planned``: text and HTML alternatives, Swedish, auto-generated."""
    name, address = sender_address(sender)
    message = EmailMessage(policy=SMTP)
    message["Subject"] = subject(planned)
    message["From"] = formataddr((name, address))
    person = planned.recipient
    message["To"] = Address(display_name=person.name, addr_spec=person.email)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid("paminnelse", domain=address.rsplit("@", 1)[1])
    # no auto-replies ("out of office") back to the sender (RFC 3834; Exchange's own header)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(text_body(planned, today, public_url))
    message.add_alternative(html_body(planned, today, public_url), subtype="html")
    message["Content-Language"] = "sv"  # after the content: set_content clears Content-*
    return message


def preview_lines(planned: Sequence[Planned]) -> list[str]:
    """One line per message for a dry run: recipient, address, subject, what."""
    return [
        f"{p.recipient.number} <{p.recipient.email}>: {subject(p)} ({summary(p)})" for p in planned
    ]
