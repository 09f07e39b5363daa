"""The roster gate: a ``post_auth_hook`` that closes the login of people who have left and
gives each person their roles (``Authenticator.manage_roles``).

Reads the records database (the roster) at each login. People who have left are refused.
People not in the roster (trainers, HR, admins who are not care staff) are left to the
authenticator's own rules, unless the gate is ``closed`` (the demo login, where one shared
password opens every name): then only the roster's staff and the ``open_to`` names may log
in. Admins are never closed (a roster import refuses their names, but an older import may
hold them).

The roles (:func:`omsorgslyft.hub.roles.roles_for`): everybody ``user``; members of the hub
groups ``utbildare`` and ``hr`` (and admins) their roles; and one ``enhetschef-<unit>`` role
per unit the roster says the person manages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from tornado import web

from omsorgslyft.hub.roles import roles_for

CLOSED = (
    "Din anställning är avslutad, så din inloggning är stängd. "
    "Kontakta din chef eller HR om det är fel."
)
UNKNOWN = (
    "Du finns inte i personallistan, så du kan inte logga in. "
    "Kontakta din chef eller HR om det är fel."
)


class RosterGate:
    """Callable as ``Authenticator.post_auth_hook``; no I/O until the first login."""

    def __init__(self, records_url: str, closed: bool = False, open_to: Iterable[str] = ()) -> None:
        self.records_url = records_url
        self.closed = closed
        self.open_to = frozenset(open_to)
        self._engine: Any = None

    def _row(self, name: str) -> Any:
        """The person's roster row (active, end, manages), or None. The records service
        owns the database: the gate only reads it, and never creates it."""
        from sqlalchemy import literal, select
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from omsorgslyft.db import make_engine
        from omsorgslyft.records.store import employee

        if self._engine is None:
            path = self.records_url.removeprefix("sqlite:///")
            if path != self.records_url and not Path(path).is_file():
                return None  # no roster yet (connecting would create the file)
            self._engine = make_engine(self.records_url)
        c = employee.c
        for manages in (c.manages, literal("")):  # a database from before "manages"
            try:
                with self._engine.connect() as conn:
                    return conn.execute(
                        select(c.active, c.end, manages.label("manages")).where(c.username == name)
                    ).first()
            except (OperationalError, ProgrammingError):
                continue
        return None  # no roster yet

    def __call__(self, authenticator: Any, handler: Any, auth_model: dict[str, Any]) -> Any:
        name = auth_model["name"]
        admin = bool(auth_model.get("admin")) or name in getattr(authenticator, "admin_users", ())
        row = self._row(name)
        employed = row is not None and row.active and not (row.end and row.end < date.today())
        if not admin:
            if row is not None and not employed:
                raise web.HTTPError(403, CLOSED)
            if row is None and self.closed and name not in self.open_to:
                raise web.HTTPError(403, UNKNOWN)
        manages = [u for u in (row.manages or "").split("\n") if u] if employed else []
        auth_model["roles"] = roles_for(admin, _groups(authenticator, handler, auth_model), manages)
        return auth_model


def _groups(authenticator: Any, handler: Any, auth_model: dict[str, Any]) -> list[str]:
    """The person's hub groups: from the login (an authenticator that manages groups, such
    as Entra ID) or from the hub's database (groups loaded from the configuration)."""
    if getattr(authenticator, "manage_groups", False):
        return list(auth_model.get("groups") or ())
    user = handler.find_user(auth_model["name"]) if handler is not None else None
    return [g.name for g in user.groups] if user is not None else []
