"""Reserved accounts: admins, trainers and HR are never taken from (or ended by) the roster.

A roster row is care staff. A row whose username is the hub's admin, a trainer or HR would
let whoever uploads the roster end that account (an end date, or leaving the row out next
time, makes the hub sync log the person out and delete the hub user). So an import refuses
such a row, and the hub sync never logs such a user out, whatever the roster says.

Reserved = the names in ``ALWAYS_RESERVED`` (configurable, for the offline command line)
plus, when the hub can be asked, every hub admin and every member of the hub groups
``RESERVED_GROUPS``. Names are compared case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: refused even when the hub cannot be asked (``omsorgslyft roster import --reserverade``,
#: the records service's ``--reserved-users``)
ALWAYS_RESERVED: tuple[str, ...] = ("admin",)
#: the hub groups of trainers and HR (``omsorgslyft.hub.settings.TRAINERS`` and ``HR``)
RESERVED_GROUPS: tuple[str, ...] = ("utbildare", "hr")

REFUSED = (
    "”{name}” är ett administratörs-, utbildar- eller HR-konto och kan inte importeras "
    "från personallistan"
)
UNKNOWN = (
    "Importen kan inte kontrollera vilka konton som tillhör administratörer, utbildare och "
    "HR, eftersom hubben inte svarar. Inget importerades. Försök igen om en stund."
)


def fold(name: str) -> str:
    return name.strip().casefold()


def folded(values: Iterable[str]) -> frozenset[str]:
    """Folded, without empty entries."""
    return frozenset(fold(v) for v in values if v.strip())


def parse_names(text: str) -> tuple[str, ...]:
    """``"admin, chef"`` -> ``("admin", "chef")`` (a command-line option's value)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def reserved_accounts(
    users: Iterable[Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    always: Iterable[str] = ALWAYS_RESERVED,
    group_names: Iterable[str] = RESERVED_GROUPS,
) -> frozenset[str]:
    """Reserved names from the hub's user models (``admin`` flag) and its groups (pure)."""
    found = [*always, *(str(u["name"]) for u in users if u.get("admin"))]
    for group in group_names:
        found.extend(groups.get(group, ()))
    return folded(found)
