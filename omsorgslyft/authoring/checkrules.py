"""The ``kunskapskontroll:`` front matter: how many questions an attempt asks, draw groups,
attempts per day and what a learner sees afterwards; and the checks that the pool fits it.

    kunskapskontroll:
      frågor: 10            # asked per attempt (the pool may hold more)
      urval:                # exactly this many from each group (grupp= on the questions)
        minoritetslagen: 2
      varianter: 4          # pre-built draws per module version (nbgrader assignments)
      försök-per-dag: 3
      efter-underkänt: avsnitt       # or: poäng
      efter-godkänt: förklaringar    # or: poäng
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omsorgslyft.authoring.frontmatter import is_valid_id
from omsorgslyft.model import CheckRules, FailReview, PassReview, Question

Report = Callable[[int, str], None]

KEYS = ("frågor", "urval", "varianter", "försök-per-dag", "efter-underkänt", "efter-godkänt")
LIMITS = {"frågor": (1, 200), "varianter": (1, 26), "försök-per-dag": (1, 50)}


def _whole(value: Any, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def parse_check_rules(raw: Any, line: int, report: Report) -> CheckRules:
    """Validate the ``kunskapskontroll`` field; problems go to ``report``."""
    field = 'Fältet "kunskapskontroll"'
    if not isinstance(raw, dict):
        report(line, f"{field} ska ha underfält, till exempel `frågor: 10`.")
        return CheckRules()
    for key in raw:
        if key not in KEYS:
            report(line, f'{field} har ett okänt underfält "{key}". Kända: {", ".join(KEYS)}.')
    values: dict[str, Any] = {}
    for key, (low, high) in LIMITS.items():
        if key in raw:
            if _whole(raw[key], low, high):
                values[key] = raw[key]
            else:
                report(line, f'"{key}" i kunskapskontrollen ska vara ett heltal {low}–{high}.')
    groups: list[tuple[str, int]] = []
    urval = raw.get("urval", {})
    if not isinstance(urval, dict):
        report(line, '"urval" ska ha en rad per grupp, till exempel `minoritetslagen: 2`.')
        urval = {}
    for name, count in urval.items():
        if not isinstance(name, str) or not is_valid_id(name):
            report(line, f'Gruppen "{name}" i urval får bara ha små bokstäver a–z, siffror och -.')
        elif not _whole(count, 1, 200):
            report(line, f'Gruppen "{name}" i urval ska ha ett antal frågor (ett heltal).')
        else:
            groups.append((name, count))
    fail, passed = FailReview.SECTIONS, PassReview.EXPLANATIONS
    if "efter-underkänt" in raw:
        try:
            fail = FailReview(raw["efter-underkänt"])
        except ValueError:
            report(line, '"efter-underkänt" ska vara "avsnitt" eller "poäng".')
    if "efter-godkänt" in raw:
        try:
            passed = PassReview(raw["efter-godkänt"])
        except ValueError:
            report(line, '"efter-godkänt" ska vara "förklaringar" eller "poäng".')
    return CheckRules(
        asked=values.get("frågor", 0),
        groups=tuple(groups),
        variants=values.get("varianter", CheckRules.variants),
        attempts_per_day=values.get("försök-per-dag", CheckRules.attempts_per_day),
        after_fail=fail,
        after_pass=passed,
    )


def check_pool(rules: CheckRules, pool: Sequence[Question], line: int, report: Report) -> None:
    """The graded questions can give every attempt what the rules ask for."""
    if not rules.asked:
        for q in pool:
            if q.group:
                report(
                    q.line, f'Frågan "{q.id}" har grupp=, men kunskapskontrollen har inget urval.'
                )
        return
    if rules.asked > len(pool):
        report(
            line,
            f"Kunskapskontrollen ska ställa {rules.asked} frågor, men har bara {len(pool)}.",
        )
        return
    named = dict(rules.groups)
    for q in pool:
        if q.group and q.group not in named:
            report(
                q.line,
                f'Frågan "{q.id}" hör till gruppen "{q.group}", som inte står i urval. '
                f"Grupper i urval: {', '.join(named) or 'inga'}.",
            )
    for name, count in rules.groups:
        have = sum(1 for q in pool if q.group == name)
        if have < count:
            report(line, f'Urvalet tar {count} frågor ur gruppen "{name}", som bara har {have}.')
    if sum(named.values()) > rules.asked:
        report(line, f"Urvalets grupper tar fler frågor än de {rules.asked} som ställs.")
        return
    rest = sum(1 for q in pool if q.group not in named)
    needed = rules.asked - sum(named.values())
    if rest < needed:
        report(
            line,
            f"{needed} frågor ska dras utanför grupperna i urval, men bara {rest} frågor "
            "står utanför dem.",
        )
