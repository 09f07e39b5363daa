"""What in-process records-app tests share: the hub's answer to "who is this?" stood in for,
and a roster person in one line."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from jupyterhub.services.auth import HubOAuth

from omsorgslyft.records.model import Employee

NORTH, BIRCH = "Hemtjänst Norr", "Särskilt boende Björkbacken"


def person(number: str, name: str, unit: str, manages: tuple[str, ...] = ()) -> Employee:
    return Employee(
        number,
        name,
        name.capitalize(),
        "Efternamn" + number,
        f"{name}@x.se",
        unit,
        "Undersköterska",
        date(2020, 1, 1),
        manages=manages,
    )


class Hub(HubOAuth):  # type: ignore[misc]
    """The hub's user model for the name in the request's test header or cookie, with the
    scopes the test gives that name in ``people``."""

    people: ClassVar[dict[str, list[str]]] = {}

    def get_user(self, handler: Any, **kwargs: Any) -> dict[str, Any] | None:
        # a header from httpx; a cookie from the browser (its downloads carry no extra headers)
        name = handler.request.headers.get("X-Test-User", "") or handler.get_cookie("test-user", "")
        if name not in self.people:
            return None
        return {"kind": "user", "name": name, "scopes": self.people[name], "roles": []}
