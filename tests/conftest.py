import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Report each module's readability (the content issue asks for the figures)."""
    try:
        from test_modules import LIX_REPORT
    except ImportError:
        return
    if LIX_REPORT:
        terminalreporter.section("läsbarhet per modul")
        for module_id, line in sorted(LIX_REPORT.items()):
            terminalreporter.write_line(f"{module_id}: {line}")


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium through Playwright, one per test module."""
    from platform_fixture import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real platform (hub, proxy, learn, grading) with the example module, and the four
    demo learners in its roster (the register issues their certificates)."""
    from platform_fixture import ROOT, start_platform

    yield from start_platform(
        tmp_path_factory.mktemp("platform"),
        [ROOT / "docs" / "exempelmodul"],
        roster=Path(__file__).parent / "fixtures" / "learners.csv",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_urls(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """URLs for the records, submissions, gradebook and answer databases.

    SQLite: one file each (the embedded default). PostgreSQL: one fresh database on the real
    server holding all of them (their table names do not overlap), dropped after the test.
    """
    from databases import pg_database, sqlite_url

    if request.param == "sqlite":
        yield {
            name: sqlite_url(tmp_path, name)
            for name in ("records", "submissions", "gradebook", "answers")
        }
    else:
        for url in pg_database():
            yield dict.fromkeys(("records", "submissions", "gradebook", "answers"), url)


RECORDS_COURSE = """
id = "grund"
titel = "Grundkurs"
moduler = ["exempelmodul"]
befattningar = ["undersköterska", "vårdbiträde"]
inom_dagar = 90
giltighet = 36
"""

# an HR system reading the JSON API with its own hub token, and a service without HR scope
RECORDS_EXTRA = """
c.JupyterHub.services.append({"name": "lonesystem", "api_token": "lonesystem-token-0123456789abcdef"})
c.JupyterHub.services.append({"name": "annat", "api_token": "annat-token-0123456789abcdef0123"})
c.JupyterHub.services.append({"name": "inlamning", "api_token": "inlamning-token-0123456789abcdef"})
c.JupyterHub.load_roles.append({"name": "hr-system", "services": ["lonesystem"],
    "scopes": ["custom:omsorgslyft:hr", "access:services!service=records"]})
c.JupyterHub.load_roles.append({"name": "annat-system", "services": ["annat"],
    "scopes": ["access:services!service=records", "read:users"]})
c.JupyterHub.load_roles.append({"name": "testinlamning", "services": ["inlamning"],
    "scopes": ["custom:omsorgslyft:submit", "access:services!service=grading"]})
# olle has left and "radera" asks to be erased: both may log in as far as the password goes
c.Authenticator.post_auth_hook.open_to |= {"olle", "radera"}  # the demo gate lets them in
"""


@pytest.fixture(scope="session")
def records_platform(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real platform with a course and an imported roster (for the HR side)."""
    from platform_fixture import ROOT, start_platform

    yield from start_platform(
        tmp_path_factory.mktemp("records-platform"),
        [ROOT / "docs" / "exempelmodul"],
        courses={"grund": RECORDS_COURSE},
        roster=Path(__file__).parent / "fixtures" / "personal.csv",
        extra_config=RECORDS_EXTRA,
    )
