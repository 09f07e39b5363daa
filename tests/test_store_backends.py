"""The learn service's answer store and the grading service's submission log, on SQLite and
on the real PostgreSQL server: the same code, the same behaviour."""

from __future__ import annotations

import pytest

from omsorgslyft.grading.submissions import DONE, RECEIVED, SubmissionLog
from omsorgslyft.learn.store import AnswerStore, PageSession


def test_answer_store(db_urls: dict[str, str]) -> None:
    store = AnswerStore(db_urls["answers"])
    token = store.open_session("anna", "kasam", 2)
    session = store.session(token)
    assert session == PageSession("anna", "kasam", 2)
    assert store.session("forged") is None
    store.save(session, "svar", "k-1", "opt-a")
    store.save(session, "svar", "k-1", "opt-b")  # the latest answer wins
    store.save(session, "ovning", "o-1", ["x", "y"])
    store.save(session, "dialog", "d-1", ["start", "nod-2"])
    store.save(session, "reflektion", "r-1", "Mitt eget svar, med å, ä och ö.")
    other = PageSession("bengt", "kasam", 2)
    store.save(other, "svar", "k-1", "opt-c")
    loaded = store.load(session)
    assert loaded == {
        "svar": {"k-1": "opt-b"},
        "ovning": {"o-1": ["x", "y"]},
        "dialog": {"d-1": ["start", "nod-2"]},
        "reflektion": {"r-1": "Mitt eget svar, med å, ä och ö."},
    }
    assert store.load(PageSession("anna", "kasam", 1))["svar"] == {}  # versions apart
    assert store.started_modules("anna") == {"kasam"}
    # a new attempt starts with its graded answers empty (the rest stays)
    assert store.start_attempt(session, 1, "a", 7) and store.start_attempt(session, 2, "b", 8)
    assert not store.start_attempt(session, 2, "c", 9)  # another page started it first
    assert store.load(session)["svar"] == {} and store.load(session)["ovning"]
    assert [a["variant"] for a in store.attempts(session)] == ["a", "b"]
    assert store.load(other)["svar"] == {"k-1": "opt-c"}
    result = {"score": 9.0, "max_score": 10.0, "passed": True, "questions": []}
    store.record_result("anna", "kasam", 2, "s1", result)
    store.record_result("anna", "kasam", 2, "s1", result)  # idempotent
    assert [r["score"] for r in store.results("anna", "kasam")] == [9.0]
    assert store.results("bengt") == []
    store.engine.dispose()


def test_submission_log(db_urls: dict[str, str]) -> None:
    log = SubmissionLog(db_urls["submissions"])
    sub, new = log.receive("s-1", "anna", "kasam", 2, {"k-1": "opt-a"})
    assert new and sub.status == RECEIVED and sub.answers == {"k-1": "opt-a"}
    again, new = log.receive("s-1", "anna", "kasam", 2, {"k-1": "other"})
    assert not new and again.answers == {"k-1": "opt-a"}  # the first one is kept
    assert [s.id for s in log.pending()] == ["s-1"]
    log.finish("s-1", DONE, {"score": 10.0, "max_score": 10.0, "passed": True})
    assert log.pending() == []
    done = log.get("s-1")
    assert (
        done is not None
        and done.status == DONE
        and done.result
        == {
            "score": 10.0,
            "max_score": 10.0,
            "passed": True,
        }
    )
    assert [s.id for s in log.for_learner("anna")] == ["s-1"]
    assert log.for_learner("bengt") == [] and log.get("nope") is None
    log.engine.dispose()


@pytest.mark.parametrize("kind", ["svar", "reflektion"])
def test_unicode_and_long_text_round_trip(db_urls: dict[str, str], kind: str) -> None:
    store = AnswerStore(db_urls["answers"])
    session = PageSession("áŋgir", "samiska", 1)
    value = "Sápmi, duodji, gákti – " * 300 if kind == "reflektion" else "opt-ŋ"
    store.save(session, kind, "b-1", value)
    assert store.load(session)[kind]["b-1"] == value
    store.engine.dispose()
