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
