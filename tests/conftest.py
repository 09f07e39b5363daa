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


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real platform (hub, proxy, learn, grading) with the example module."""
    from platform_fixture import ROOT, start_platform

    yield from start_platform(tmp_path_factory.mktemp("platform"), [ROOT / "docs" / "exempelmodul"])


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
