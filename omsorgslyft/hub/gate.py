"""The roster gate: a ``post_auth_hook`` that closes the login of people who have left.

Reads the records database (the roster) at each login; people not in the roster (trainers,
HR, admins who are not care staff) are left to the authenticator's own rules. Admins are
never closed (a roster import refuses their names, but an older import may hold them).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tornado import web

CLOSED = (
    "Din anställning är avslutad, så din inloggning är stängd. "
    "Kontakta din chef eller HR om det är fel."
)


class RosterGate:
    """Callable as ``Authenticator.post_auth_hook``; no I/O until the first login."""

    def __init__(self, records_url: str) -> None:
        self.records_url = records_url
        self._engine: Any = None

    def __call__(self, authenticator: Any, handler: Any, auth_model: dict[str, Any]) -> Any:
        from sqlalchemy import select
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from omsorgslyft.db import make_engine
        from omsorgslyft.records.store import employee

        name = auth_model["name"]
        if auth_model.get("admin") or name in getattr(authenticator, "admin_users", ()):
            return auth_model  # an admin is never closed out by a roster row
        if self._engine is None:
            self._engine = make_engine(self.records_url)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(employee.c.active, employee.c.end).where(employee.c.username == name)
                ).first()
        except (OperationalError, ProgrammingError):  # no roster yet: nothing to close
            return auth_model
        if row is not None and (not row.active or (row.end and row.end < date.today())):
            raise web.HTTPError(403, CLOSED)
        return auth_model
