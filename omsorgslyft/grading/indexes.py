"""An index of our own on nbgrader's gradebook, made by the service that writes it.

The records service reads, from nbgrader's ``grade`` table (ten rows per submission: two
million for 20,000 employees and ten modules), only the grades a person changed in
formgrader (``manual_score`` or ``extra_credit`` set). nbgrader indexes that table by its
unique (notebook, cell) pair only, so finding those few hundred rows read the whole table:
half a second of PostgreSQL's time, on three of its workers, in every export. A partial
index holds just those rows; autograding, which leaves both columns empty, never writes to
it. ``IF NOT EXISTS``: made once, by whichever grading process comes first; nbgrader's own
migrations leave an index they do not know alone.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

HAND_GRADED = "ix_omsorgslyft_grade_hand_graded"
# the records service's query says exactly this, so both databases' planners use the index
HAND_GRADED_WHERE = "manual_score IS NOT NULL OR extra_credit IS NOT NULL"


def ensure_gradebook_indexes(db_url: str) -> bool:
    """Make the partial index on ``grade`` if the gradebook has that table; True if it was
    made now. A SQLite gradebook that does not exist yet is left alone (not created)."""
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        return False
    engine = create_engine(db_url)
    try:
        if "grade" not in inspect(engine).get_table_names():
            return False
        if HAND_GRADED in {ix["name"] for ix in inspect(engine).get_indexes("grade")}:
            return False
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {HAND_GRADED} ON grade (notebook_id) "
                f"WHERE {HAND_GRADED_WHERE}"
            )
        return True
    finally:
        engine.dispose()
