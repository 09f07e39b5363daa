"""Who may do what: the hub's roles, a person's roles at login, where they land, their tools.

Pure (no I/O) and imported by the hub configuration, the roster gate, and the learn and
records services (for the shared header), so it imports nothing of theirs.

Roles are managed by the authenticator (``Authenticator.manage_roles``): at every login the
roster gate (:mod:`omsorgslyft.hub.gate`) gives the person exactly the roles below, so a
change in the roster (a new manager, a manager who left) holds from their next login, and
the records service checks the roster again on every request.

* ``user``: everybody; take modules (no servers, so no code anywhere).
* ``utbildare``: members of the hub group ``utbildare``; JupyterLab and question statistics.
* ``hr-personal``: members of the hub group ``hr`` and the hub's admins; the whole register.
* ``enhetschef-<unit>``: one per unit a person manages (the roster's *chef för enhet*);
  the register's scope filtered to that unit's hub group
  (``custom:omsorgslyft:hr!group=enhet:<unit>``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SUBMIT_SCOPE = "custom:omsorgslyft:submit"
HR_SCOPE = "custom:omsorgslyft:hr"
STATS_SCOPE = "custom:omsorgslyft:statistics"
OWN_RECORDS_SCOPE = "custom:omsorgslyft:own-records"

TRAINERS = "utbildare"  # hub group
HR = "hr"  # hub group
USER_ROLE = "user"
ADMIN_ROLE = "admin"
TRAINER_ROLE = "utbildare"
HR_ROLE = "hr-personal"
MANAGER_PREFIX = "enhetschef-"
UNIT_GROUP = "enhet:"

# one's own role names: the header shows the tools a person may use
OWN_ROLES_SCOPE = "read:roles:users!user"
LEARNER_SCOPES = (
    "read:users:name!user",
    "read:users:groups!user",
    OWN_ROLES_SCOPE,
    "access:services!service=learn",
    "users:activity!user",
)


def slug(text: str) -> str:
    """``Särskilt boende Björkbacken`` -> ``sarskilt-boende-bjorkbacken``."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    out, dash = [], False
    for ch in plain:
        if unicodedata.combining(ch):
            continue
        if ch.isascii() and ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")[:100] or "okand"


def unit_group(unit: str) -> str:
    """The hub group of a unit's staff (kept in step with the roster by the records service)."""
    return UNIT_GROUP + slug(unit)


def manager_scope(unit: str) -> str:
    return f"{HR_SCOPE}!group={unit_group(unit)}"


def manager_role(unit: str) -> dict[str, Any]:
    return {
        "name": MANAGER_PREFIX + slug(unit),
        "description": f"Enhetschef för {unit}"[:200],
        "scopes": [manager_scope(unit), "access:services!service=records"],
    }


def static_roles(
    admin_users: Iterable[str] = (), learn_services: Iterable[str] = ("learn",)
) -> list[dict[str, Any]]:
    """The roles ``JupyterHub.load_roles`` defines for people (assigned at login, not here:
    with ``manage_roles`` the hub refuses assignments in ``load_roles``). ``learn_services``:
    the learn service's shards (omsorgslyft.learn.shards), each a hub service to access."""
    shards = [f"access:services!service={name}" for name in learn_services]
    extra = [scope for scope in shards if scope not in LEARNER_SCOPES]
    learner = [*LEARNER_SCOPES, *extra]
    return [
        {"name": USER_ROLE, "description": "Medarbetare", "scopes": learner},
        {
            "name": TRAINER_ROLE,
            "description": "Utbildare: egna JupyterLab-servrar med nbgraders formgrader",
            "scopes": [
                "self",
                STATS_SCOPE,
                *shards,
                "access:services!service=records",
            ],
        },
        {
            "name": HR_ROLE,
            "description": "HR: hela kompetensregistret, import, påminnelser och GDPR",
            "scopes": [
                HR_SCOPE,
                "access:services!service=records",
                "read:users",
                "read:groups",
                *learner,
            ],
        },
    ]


def roles_for(
    admin: bool, groups: Iterable[str], manages: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Every role a person holds after this login (the hub strips any other)."""
    groups = set(groups)
    out: list[dict[str, Any]] = [{"name": USER_ROLE}]
    if admin:
        out.append({"name": ADMIN_ROLE})
    if TRAINERS in groups:
        out.append({"name": TRAINER_ROLE})
    if admin or HR in groups:
        out.append({"name": HR_ROLE})
    seen: set[str] = set()
    for unit in manages:
        role = manager_role(unit)
        if role["name"] not in seen:
            seen.add(role["name"])
            out.append(role)
    return out


@dataclass(frozen=True)
class Tool:
    key: str
    label: str
    path: str  # below the hub's base URL


def tools(role_names: Iterable[str]) -> list[Tool]:
    """The tools a person with these roles may use, in the header's order."""
    names = set(role_names)
    hr = HR_ROLE in names or ADMIN_ROLE in names
    manager = any(n.startswith(MANAGER_PREFIX) for n in names)
    trainer = TRAINER_ROLE in names
    out = [Tool("learn", "Mina utbildningar", "services/learn/")]
    if hr:
        out.append(Tool("records", "Kompetensregister", "services/records/"))
    elif manager:
        out.append(Tool("records", "Min enhet", "services/records/"))
    if hr or manager:
        out.append(Tool("matrix", "Matris", "services/records/matris"))
    if hr:
        out.append(Tool("import", "Importera personal", "services/records/import"))
        out.append(Tool("reminders", "Påminnelser", "services/records/paminnelser"))
    if hr or trainer:
        out.append(Tool("stats", "Frågestatistik", "services/records/statistik"))
    if trainer:
        out.append(Tool("lab", "JupyterLab", "hub/user-redirect/lab"))
    return out


def landing(role_names: Iterable[str]) -> str:
    """Where a person lands after logging in (below the hub's base URL): HR on the register,
    a manager on their units, a trainer on the question statistics (with JupyterLab and
    their modules a click away), everyone else on *Mina utbildningar*."""
    names = set(role_names)
    if HR_ROLE in names or ADMIN_ROLE in names or any(n.startswith(MANAGER_PREFIX) for n in names):
        return "services/records/"
    if TRAINER_ROLE in names:
        return "services/records/statistik"
    return "services/learn/"


class Landing:
    """Callable as ``JupyterHub.default_url``: the landing page of the logged-in person."""

    def __init__(self, base_url: str = "/") -> None:
        self.base_url = base_url

    def __call__(self, handler: Any) -> str:
        user = getattr(handler, "current_user", None)
        names = [r.name for r in getattr(user, "roles", ())] if user is not None else []
        return self.base_url.rstrip("/") + "/" + landing(names)
