"""Admins, trainers and HR cannot be imported from (or ended by) the staff roster.

The import refuses a row whose username is a reserved account, with the row number, and
then imports nothing; the hub sync never logs out a reserved account even if the roster
says it has left.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from databases import cli_db_args
from test_roster import ANNA, BJORN, HEADER, csv_bytes, csv_text, import_count, snapshot

from omsorgslyft.cli import main
from omsorgslyft.hub.settings import HR, TRAINERS, HubSettings
from omsorgslyft.records.hubsync import PAGINATION, HubClient, plan_sync, sync_hub
from omsorgslyft.records.model import Employee
from omsorgslyft.records.reserved import ALWAYS_RESERVED, RESERVED_GROUPS
from omsorgslyft.records.roster import RosterError, read_roster
from omsorgslyft.records.store import RecordsStore

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 23)


def refused(name: str) -> str:
    return (
        f"”{name}” är ett administratörs-, utbildar- eller HR-konto och kan inte importeras "
        "från personallistan."
    )


def row(number: str, username: str, email: str = "", end: str = "") -> list[str]:
    return [
        number,
        username.title() or "Kim",
        "Ek",
        email or f"{username or 'kim'}@kommun.se",
        "Hemtjänst Norr",
        "undersköterska",
        "2020-01-01",
        end,
        username,
    ]


# -- the reserved names are the hub's --------------------------------------------------------
def test_the_reserved_groups_and_names_are_the_hubs() -> None:
    assert set(RESERVED_GROUPS) == {TRAINERS, HR}
    assert set(ALWAYS_RESERVED) <= set(HubSettings(Path("."), Path(".")).admin_users)


# -- the import plan -------------------------------------------------------------------------
def test_a_row_naming_the_admin_is_an_error_with_its_row_number() -> None:
    # HR's attempt: the admin with an end date, among good rows
    data = csv_bytes([ANNA, row("9001", "admin", end="2026-01-31"), BJORN], ";")
    roster = read_roster(data, "personal.csv")  # "admin" is refused without being named
    assert roster.errors == (RosterError(3, refused("admin")),)
    assert str(roster.errors[0]) == (
        "Rad 3: ”admin” är ett administratörs-, utbildar- eller HR-konto och kan inte "
        "importeras från personallistan."
    )


def test_trainers_and_hr_from_the_hub_are_refused_too_in_any_case() -> None:
    data = csv_bytes([row("9002", "Tove"), ANNA, row("9003", "HANNA", end="2026-02-01")])
    roster = read_roster(data, "personal.csv", {"admin", "tove", "hanna"})
    assert [str(e) for e in roster.errors] == [
        f"Rad 2: {refused('tove')}",
        f"Rad 4: {refused('hanna')}",
    ]


def test_the_email_default_username_is_checked() -> None:
    """Without an användarnamn the e-mail address is the username, and is checked."""
    header = HEADER[:-1]
    hr_row = row("9004", "", email="HR.Chef@Kommun.se")[:-1]
    data = csv_text([ANNA[:-1], hr_row], ";", header).encode()
    roster = read_roster(data, "personal.csv", {"admin", "hr.chef@kommun.se"})
    assert [str(e) for e in roster.errors] == [f"Rad 3: {refused('hr.chef@kommun.se')}"]


def test_a_reserved_row_with_other_errors_is_one_line() -> None:
    bad = row("9005", "admin")
    bad[2] = ""  # no efternamn
    roster = read_roster(csv_bytes([bad]), "personal.csv")
    assert [str(e) for e in roster.errors] == [
        "Rad 2: ”efternamn” är tomt; ”admin” är ett administratörs-, utbildar- eller HR-konto "
        "och kan inte importeras från personallistan."
    ]


def test_confirming_checks_again_with_the_accounts_as_they_are_then() -> None:
    """Someone made a trainer after the dry run is refused when the import is confirmed."""
    roster = read_roster(csv_bytes([ANNA, row("9006", "tove")]), "personal.csv")
    assert roster.errors == () and roster.rows == (2, 3)
    assert roster.reserved_errors({"admin"}) == ()
    assert [str(e) for e in roster.reserved_errors({"admin", "TOVE"})] == [
        f"Rad 3: {refused('tove')}"
    ]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "projekt"
    shutil.copytree(ROOT / "modules", root / "modules")
    shutil.copytree(ROOT / "courses", root / "courses")
    return root


def test_the_command_line_imports_nothing_from_a_file_naming_a_reserved_account(
    tmp_path: Path, db_urls: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    first = tmp_path / "personal.csv"
    first.write_bytes(csv_bytes([ANNA, BJORN], ";"))
    assert main(["--root", str(root), "roster", "import", str(first), *cli_db_args(db_urls)]) == 0
    capsys.readouterr()
    store = RecordsStore(db_urls["records"])
    try:
        before, count = snapshot(store), import_count(store)
        # Björn left out (he would be ended), the admin and a trainer given an end date
        attack = tmp_path / "ny.csv"
        attack.write_bytes(
            csv_bytes([ANNA, row("9001", "admin", end="2026-01-31"), row("9002", "tove")], ";")
        )
        args = ["--root", str(root), "roster", "import", str(attack), *cli_db_args(db_urls)]

        assert main(args) == 1  # offline: the always-reserved "admin"
        captured = capsys.readouterr()
        assert captured.out == f"{attack}: Rad 3: {refused('admin')}\n"
        assert "Inget importerades: 1 fel." in captured.err
        assert (snapshot(store), import_count(store)) == (before, count)

        assert main([*args, "--reserverade", "admin, tove"]) == 1  # trainers named too
        captured = capsys.readouterr()
        assert captured.out.splitlines() == [
            f"{attack}: Rad 3: {refused('admin')}",
            f"{attack}: Rad 4: {refused('tove')}",
        ]
        assert "Inget importerades: 2 fel." in captured.err
        assert main([*args, "--reserverade", "admin,tove", "--dry-run"]) == 1
        capsys.readouterr()
        assert (snapshot(store), import_count(store)) == (before, count)
        assert store.employee_by_username("admin") is None
        bjorn = store.employee_by_number("1002")
        assert bjorn is not None and bjorn.active
    finally:
        store.dispose()


# -- the hub sync: the second line -----------------------------------------------------------
def person(name: str, end: date | None = None) -> Employee:
    return Employee(
        name, name, name, "E", f"{name}@x.se", "Norr", "Vårdbiträde", date(2020, 1, 1), end
    )


LEFT = date(2026, 1, 31)


def test_plan_sync_never_logs_out_a_reserved_leaver() -> None:
    """The roster says the admin, a hub admin, a trainer and HR have left: only olle goes."""
    roster = [
        person("anna"),
        person("olle", LEFT),
        person("admin", LEFT),
        person("chef", LEFT),  # an admin per the hub
        person("tove", LEFT),
        person("hanna", LEFT),
    ]
    users = {"anna", "olle", "admin", "chef", "tove", "hanna"}
    groups = {"utbildare": {"tove"}, "hr": {"hanna"}}
    plan = plan_sync(roster, users, groups, TODAY, reserved={"admin", "Chef"})
    assert plan.log_out == ("olle",)
    assert plan.spared == ("admin", "chef", "hanna", "tove")
    # without being told about hub admins: the always-reserved names and the groups still hold
    assert plan_sync(roster, users, groups, TODAY).log_out == ("chef", "olle")


class FakeHub(HubClient):
    """The hub's REST API as far as the sync uses it, paginated like JupyterHub (at most
    200 per page, ``_pagination.next`` with the pagination media type)."""

    def __init__(self, users: list[dict[str, Any]], groups: dict[str, list[str]]) -> None:
        super().__init__("http://hub.invalid/hub/api", "token")
        self.user_models_ = users
        self.group_models = [{"name": g, "users": u} for g, u in groups.items()]
        self.deleted: list[str] = []

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        url = urlsplit(path)
        if method == "DELETE" and url.path.startswith("users/"):
            self.deleted.append(url.path.split("/", 1)[1])
            return None
        if method != "GET":
            return None
        query = parse_qs(url.query)
        items = self.user_models_ if url.path == "users" else self.group_models
        offset = int(query.get("offset", ["0"])[0])
        limit = min(int(query.get("limit", ["50"])[0]), 200)
        page = items[offset : offset + limit]
        if (headers or {}).get("Accept") != PAGINATION:
            return page
        more = offset + limit < len(items)
        following = {"offset": offset + limit, "limit": limit} if more else None
        return {"items": page, "_pagination": {"total": len(items), "next": following}}


def test_sync_hub_asks_the_hub_for_admins_and_never_deletes_them() -> None:
    staff = [f"u{i:03d}" for i in range(300)]
    models = [{"name": n, "admin": False} for n in staff]
    models[250] = {"name": "chef", "admin": True}  # an admin past the hub's first page
    models.append({"name": "admin", "admin": True})
    roster = [person(n, LEFT) for n in ("u001", "chef", "admin", "tove", "hanna")]
    roster.append(person("u002"))

    async def run() -> tuple[FakeHub, frozenset[str]]:
        hub = FakeHub(
            [*models, {"name": "tove"}, {"name": "hanna"}],
            {"utbildare": ["tove"], "hr": ["hanna"], "enhet:norr": ["u002"]},
        )
        await sync_hub(hub, roster, TODAY)
        return hub, await hub.reserved(())

    hub, reserved = asyncio.run(run())
    assert hub.deleted == ["u001"]
    assert reserved == {"chef", "admin", "tove", "hanna"}
