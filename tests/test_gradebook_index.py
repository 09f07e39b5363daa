"""The grading service's partial index on nbgrader's ``grade`` table, on SQLite and
PostgreSQL: made once, kept by nbgrader's own writes, and the one the records service's
read of hand-graded scores goes through (instead of reading every grade)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, select
from test_records_store import real_gradebook, set_grades

from omsorgslyft.grading.indexes import HAND_GRADED, ensure_gradebook_indexes
from omsorgslyft.records.gradebook import gb_grade, gradebook_scores

pytestmark = pytest.mark.slow


def _plan(url: str) -> str:
    """The database's plan for the records service's query of the grades a person set."""
    engine = create_engine(url)
    touched = select(gb_grade.c.notebook_id).where(
        gb_grade.c.manual_score.is_not(None) | gb_grade.c.extra_credit.is_not(None)
    )
    sql = str(touched.compile(engine, compile_kwargs={"literal_binds": True}))
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: show the choice
                rows = conn.exec_driver_sql(f"EXPLAIN {sql}").all()
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
        return "\n".join(str(r[-1]) for r in rows)
    finally:
        engine.dispose()


def test_the_hand_graded_index(db_urls: dict[str, str]) -> None:
    url = db_urls["gradebook"]
    assert ensure_gradebook_indexes(url) is False  # no gradebook yet: nothing to index
    gb: Any = real_gradebook(url)
    try:
        gb.add_assignment("kasam")
        gb.add_notebook("kasam", "kasam")
        for cell in ("test-k1", "test-k2"):
            gb.add_grade_cell(cell, "kasam", "kasam", max_score=5.0, cell_type="code")
        for student in ("anna", "bo"):
            gb.add_student(student)
            gb.add_submission("kasam", student)
            set_grades(gb, "kasam", student, "auto_score", test_k1=5.0, test_k2=3.0)
        engine = create_engine(url)
        before = gradebook_scores(engine)
        assert before == {}  # autograded only: nobody changed anything
        assert HAND_GRADED not in _plan(url)

        assert ensure_gradebook_indexes(url) is True
        assert ensure_gradebook_indexes(url) is False  # once
        assert HAND_GRADED in _plan(url)
        # nbgrader's own writes keep it: a trainer's grade by hand is found through it
        set_grades(gb, "kasam", "anna", "manual_score", test_k1=2.0)
        set_grades(gb, "kasam", "bo", "extra_credit", test_k2=1.0)
        found = gradebook_scores(engine)
        assert {k: v[1:] for k, v in found.items()} == {
            ("anna", "kasam"): (5.0, 10.0),
            ("bo", "kasam"): (9.0, 10.0),
        }
        assert found == gradebook_scores(engine, everything=False)
        engine.dispose()
    finally:
        gb.close()
