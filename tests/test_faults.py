"""Fault tests on the real platform: a process is killed with SIGKILL while work is in
flight, comes back (the hub restarts its managed services; the hub itself is started again
with the same command and config), and nothing the platform acknowledged is lost.

Each test prints its figures (``acknowledged N, kept N, ...``; run with ``-s`` or ``-rA``)
and puts them in its assertion messages. One platform serves the file; the hub is killed
last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets
from faults import (
    ANSWERS,
    SERVICES,
    Hub,
    kill9,
    kill_orphans,
    platform_with_hub,
    poll,
    reap,
    service,
    survivors,
    wait_back,
)
from kernel_socket import kernel_message, page_config
from platform_fixture import ROOT, Platform

from omsorgslyft.authoring import load_module
from omsorgslyft.grading.submissions import SubmissionLog
from omsorgslyft.learn.store import AnswerStore, PageSession

from answers import right_answers

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
LEARNERS = ("anna", "bengt", "cecilia", "david")
REFLECTION = "ref-1"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Hub]]:
    # kernels stay while a test works (the fixture's default culls them after 12 s idle)
    yield from platform_with_hub(
        tmp_path_factory.mktemp("faults"),
        [ROOT / "docs" / "exempelmodul"],
        idle_minutes=5,
        roster=ROOT / "tests" / "fixtures" / "learners.csv",
    )


def answers(platform: Platform) -> AnswerStore:
    return AnswerStore(f"sqlite:///{platform.learn_db}")


# -- a learner's page, spoken to over its kernel websocket ----------------------------------


def _msg(learner: str, msg_type: str, content: dict[str, Any], metadata: Any = None) -> Any:
    return kernel_message(
        msg_type, content, metadata, username=learner, session=f"faults-{learner}"
    )


def open_page(client: httpx.Client) -> str:
    """Open the module page as the browser does; its kernel's id."""
    page = client.get("/services/learn/modul/exempelmodul")
    assert page.status_code == 200, page.text[:300]
    config = page_config(page.text)
    assert config is not None
    return str(config["kernelId"])


def channels(platform: Platform, client: httpx.Client, kernel_id: str) -> tuple[str, str]:
    url = platform.url.replace("http", "ws") + f"/services/learn/api/kernels/{kernel_id}/channels"
    return url, "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


async def widget_states(ws: Any, learner: str, seconds: float = 60) -> dict[str, Any]:
    """Every widget's state, asked for as the page's widget manager does."""
    control = uuid.uuid4().hex
    _, opening = _msg(
        learner,
        "comm_open",
        {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
        {"version": "1.0.0"},
    )
    await ws.send(opening)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, ask = _msg(
            learner, "comm_msg", {"comm_id": control, "data": {"method": "request_states"}}
        )
        await ws.send(ask)
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 3))
                data = msg["content"].get("data") or {}
                if msg["msg_type"] == "comm_msg" and data.get("method") == "update_states":
                    states: dict[str, Any] = data["states"]
                    # a preheated page builds its blocks once it knows whose it is
                    if reflection_model(states):
                        return states
                    break
        except TimeoutError:
            pass
    raise AssertionError(f"no widget states from {learner}'s page")


def reflection_model(states: dict[str, Any]) -> str:
    for model_id, state in states.items():
        if state["state"].get("_model_name") == "TextareaModel":
            return model_id
    return ""


def status_model(states: dict[str, Any]) -> str:
    for model_id, state in states.items():
        if 'class="ol-save' in str(state["state"].get("value", "")):
            return model_id
    raise AssertionError("no save status on the page")


@dataclass
class Writer:
    """One learner changing their reflection over and over on their page."""

    learner: str
    url: str
    cookie: str
    sent: list[int] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    closed: bool = False

    def text(self, n: int) -> str:
        return f"{self.learner} skriver version {n}"

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with websockets.connect(
                self.url, additional_headers={"Cookie": self.cookie}, open_timeout=60
            ) as ws:
                states = await widget_states(ws, self.learner)
                area, status = reflection_model(states), status_model(states)
                n = 0
                while not stop.is_set():
                    n += 1
                    msg_id, update = _msg(
                        self.learner,
                        "comm_msg",
                        {
                            "comm_id": area,
                            "data": {
                                "method": "update",
                                "state": {"value": self.text(n)},
                                "buffer_paths": [],
                            },
                        },
                    )
                    self.sent.append(n)
                    await ws.send(update)
                    # the page's status line says so when the save is done ("Sparat kl.")
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                        data = msg["content"].get("data") or {}
                        value = str((data.get("state") or {}).get("value", ""))
                        if (
                            msg["msg_type"] == "comm_msg"
                            and msg["content"].get("comm_id") == status
                            and msg["parent_header"].get("msg_id") == msg_id
                            and "data-sparning" in value
                        ):
                            (self.acked if "Sparat kl." in value else self.refused).append(n)
                            break
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            self.closed = True


def stored_version(platform: Platform, learner: str) -> int:
    state = answers(platform).load(PageSession(learner, EXAMPLE.id, EXAMPLE.version))
    text = str(state["reflektion"].get(REFLECTION, ""))
    found = re.fullmatch(rf"{learner} skriver version (\d+)", text)
    return int(found.group(1)) if found else 0


def test_kill_learn_while_answers_are_saved(faulty: tuple[Platform, Hub]) -> None:
    platform, _hub = faulty
    clients = {learner: platform.login(learner) for learner in LEARNERS}
    writers = []
    for learner, client in clients.items():
        url, cookie = channels(platform, client, open_page(client))
        writers.append(Writer(learner, url, cookie))
    learn = service(platform, "learn")
    assert learn is not None
    killed: dict[str, Any] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in writers]
        deadline = time.monotonic() + 180
        # everyone has had a few saves acknowledged, and keeps saving
        while min(len(w.acked) for w in writers) < 5:
            assert time.monotonic() < deadline, [(w.learner, len(w.acked)) for w in writers]
            assert not any(w.closed for w in writers), "a page closed before the kill"
            await asyncio.sleep(0.05)
        killed["acked"] = sum(len(w.acked) for w in writers)
        killed["in_flight"] = sum(len(w.sent) > len(w.acked) + len(w.refused) for w in writers)
        killed["family"] = kill9(learn, "learn")
        killed["at"] = time.monotonic()
        # the pages' sockets went with the service (they are proxied through it)
        await asyncio.wait(tasks, timeout=60)
        stop.set()
        await asyncio.wait(tasks, timeout=30)

    asyncio.run(scenario())
    new_pid = wait_back(platform, "learn", learn.pid)
    # the killed service's kernels (their sockets are gone with it)
    reap(killed["family"])
    kill_orphans(platform)

    acknowledged = sum(len(w.acked) for w in writers)
    kept = 0
    for w in writers:
        now = stored_version(platform, w.learner)
        # kept: the stored text is this save's, or a later one's this page sent
        kept += sum(1 for n in w.acked if now >= n and now in w.sent)
    lost = acknowledged - kept
    figures = (
        f"acknowledged {acknowledged}, kept {kept}, lost {lost} "
        f"({killed['acked']} acknowledged before the kill, {killed['in_flight']} of "
        f"{len(writers)} pages with a save in flight at it; learn {learn.pid} -> {new_pid})"
    )
    print(figures)
    assert all(w.closed for w in writers), figures  # the kill really cut the pages off
    assert new_pid != learn.pid, figures
    assert killed["in_flight"] >= 1, figures
    assert acknowledged >= 5 * len(writers) and lost == 0, figures

    # a page opened again shows what was saved
    for learner, client in clients.items():
        expected = stored_version(platform, learner)
        url, cookie = channels(platform, client, open_page(client))

        async def reopen(url: str = url, cookie: str = cookie, learner: str = learner) -> str:
            async with websockets.connect(
                url, additional_headers={"Cookie": cookie}, open_timeout=60
            ) as ws:
                states = await widget_states(ws, learner, seconds=150)
                return str(states[reflection_model(states)]["state"]["value"])

        shown = asyncio.run(reopen())
        assert shown == f"{learner} skriver version {expected}", (learner, shown, figures)
        client.close()


# -- grading ---------------------------------------------------------------------------------

#: every time the grading service writes a submission's grade (test instrumentation: a
#: trigger in the submission log counts them)
AUDIT = """
CREATE TABLE IF NOT EXISTS faults_graded (id TEXT, status TEXT, at TEXT);
CREATE TRIGGER IF NOT EXISTS faults_graded_update AFTER UPDATE ON submission
WHEN NEW.graded_at IS NOT NULL AND NEW.graded_at IS NOT OLD.graded_at
BEGIN INSERT INTO faults_graded VALUES (NEW.id, NEW.status, NEW.graded_at); END;
"""


def page_api(platform: Platform, action: str, token: str, body: object = None) -> httpx.Response:
    """The learn service's page API, as a module page's kernel calls it."""
    return httpx.post(
        f"http://127.0.0.1:{platform.learn_port}/services/learn/api/page/{action}",
        json=body or {},
        headers={"Authorization": f"Bearer {token}"},
        timeout=90,
    )


def submissions_db(platform: Platform) -> sqlite3.Connection:
    db = sqlite3.connect(platform.project / "grading" / "submissions.db", timeout=30)
    db.execute("PRAGMA busy_timeout=30000")
    return db


def statuses(platform: Platform, learners: list[str]) -> dict[str, list[str]]:
    """Each learner's rows in the submission log: their statuses."""
    with contextlib.closing(submissions_db(platform)) as db:
        marks = ",".join("?" * len(learners))
        rows = db.execute(
            f"SELECT learner, status FROM submission WHERE learner IN ({marks})", learners
        ).fetchall()
    out: dict[str, list[str]] = {learner: [] for learner in learners}
    for learner, status in rows:
        out[learner].append(status)
    return out


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """What a grade says, without what names this submission."""
    return {k: v for k, v in result.items() if k not in ("id", "submission_id", "graded_at")}


def test_kill_grading_during_an_autograde(faulty: tuple[Platform, Hub]) -> None:
    platform, _hub = faulty
    store = answers(platform)
    right = right_answers(EXAMPLE)

    def hand_in(learner: str) -> tuple[str, httpx.Response]:
        """What a learner's page does: save the attempt's answers, then Lämna in."""
        token = store.open_session(learner, EXAMPLE.id, EXAMPLE.version)
        loaded = page_api(platform, "load", token)
        assert loaded.status_code == 200, loaded.text
        for qid in loaded.json()["attempt"]["questions"]:
            saved = page_api(
                platform, "save", token, {"kind": "svar", "key": qid, "value": right[qid]}
            )
            assert saved.status_code == 200, saved.text
        return token, page_api(platform, "submit", token)

    # a clean grade of the same answers, before anything is killed
    _, clean = hand_in("kontroll")
    assert clean.status_code == 200 and clean.json()["status"] == "klar", clean.text
    clean_result = comparable(clean.json()["result"])

    with contextlib.closing(submissions_db(platform)) as db:
        db.executescript(AUDIT)
    grading = service(platform, "grading")
    assert grading is not None
    learners = [f"fel{i}" for i in range(10)]
    replies: dict[str, httpx.Response | Exception] = {}
    tokens: dict[str, str] = {}

    def learner_hands_in(learner: str) -> None:
        try:
            tokens[learner], replies[learner] = hand_in(learner)
        except Exception as exc:  # the reply never came: the service was killed
            replies[learner] = exc

    threads = [threading.Thread(target=learner_hands_in, args=(x,)) for x in learners]
    for thread in threads:
        thread.start()

    def mid_grading() -> bool:
        rows = statuses(platform, learners)
        done = [x for x, r in replies.items() if isinstance(r, httpx.Response)]
        grading_now = sum(r.count("mottagen") for r in rows.values())
        # a few acknowledged first, but never so late that nothing is being graded
        return bool(done) and grading_now >= 1 and (len(done) >= 3 or grading_now <= 2)

    poll(mid_grading, 180, "submissions acknowledged and another being graded", every=0.05)
    at_kill = statuses(platform, learners)
    family = kill9(grading, "grading")
    for thread in threads:
        thread.join(timeout=120)
    new_pid = wait_back(platform, "grading", grading.pid)

    # the learners whose Lämna in got no grade press it again (the same attempt: the
    # same submission id), until the grade is there
    results: dict[str, dict[str, Any]] = {}
    acknowledged = []
    for learner in learners:
        reply = replies[learner]
        if isinstance(reply, httpx.Response) and reply.status_code in (200, 202):
            acknowledged.append(learner)
        if isinstance(reply, httpx.Response) and reply.status_code == 200:
            results[learner] = reply.json()["result"]
    for learner in learners:
        if learner in results or learner not in tokens:
            continue

        def graded(learner: str = learner) -> bool:
            again = page_api(platform, "submit", tokens[learner])
            if again.status_code == 200:
                results[learner] = again.json()["result"]
            return again.status_code == 200

        poll(graded, 180, f"{learner}'s grade after the restart", every=2)

    # the stray workers of the killed service (a known issue): give them the time they
    # need to finish what they were grading, then count
    deadline = time.monotonic() + 30
    while survivors(family) and time.monotonic() < deadline:
        time.sleep(1)
    strays = reap(family)
    kill_orphans(platform)

    rows = statuses(platform, learners)
    log = SubmissionLog(f"sqlite:///{platform.project / 'grading' / 'submissions.db'}")
    with contextlib.closing(submissions_db(platform)) as db:
        writes = dict(db.execute("SELECT id, count(*) FROM faults_graded GROUP BY id").fetchall())
    sids = {x: log.for_learner(x)[0].id for x in learners if log.for_learner(x)}
    twice = sorted(x for x, sid in sids.items() if writes.get(sid, 0) > 1)
    kept = [x for x in acknowledged if rows[x] == ["klar"]]
    figures = (
        f"acknowledged {len(acknowledged)}, kept {len(kept)}, graded twice {len(twice)} "
        f"(submitted {len(learners)}, in the log {sum(map(len, rows.values()))}, "
        f"being graded at the kill {sum(r.count('mottagen') for r in at_kill.values())}; "
        f"grading {grading.pid} -> {new_pid}; {strays} stray workers/kernels killed)"
    )
    print(figures)
    assert new_pid != grading.pid, figures
    assert any("mottagen" in r for r in at_kill.values()), figures
    assert len(kept) == len(acknowledged) >= 1, figures
    # every submission: one row, graded once, and graded as a clean run grades it
    assert all(r == ["klar"] for r in rows.values()), (rows, figures)
    assert set(sids) == set(learners), figures
    assert twice == [] and all(writes.get(sid) == 1 for sid in sids.values()), (writes, figures)
    for learner in learners:
        assert comparable(results[learner]) == clean_result, (learner, figures)
    # nbgrader's gradebook: one graded submission each, with the log's score
    from nbgrader.api import Gradebook

    from omsorgslyft.grading.course import COURSE_ID

    gradebook = f"sqlite:///{platform.project / 'grading' / 'gradebook.db'}"
    with Gradebook(gradebook, COURSE_ID) as gb:
        for learner in learners:
            sub = log.for_learner(learner)[0]
            graded_sub = gb.find_submission(sub.variant, learner)
            assert graded_sub.score == sub.result["score"], (learner, figures)  # type: ignore[index]
    # and the learner's own copy (Mina utbildningar reads it): one result, the same
    for learner in learners:
        mine = store.results(learner, EXAMPLE.id)
        assert len(mine) == 1 and comparable(mine[0]) == {
            **clean_result,
            **{k: v for k, v in comparable(mine[0]).items() if k not in clean_result},
        }, (learner, mine, figures)


# -- records -------------------------------------------------------------------------------

RECORDS = "/services/records/"
HEADER = "anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från;anställd till;användarnamn\n"
COLUMNS = 'number, username, first_name, last_name, email, unit, role, start, "end", active'


def big_roster(size: int) -> tuple[str, set[tuple[str, ...]]]:
    """The roster's four learners, moved to another unit, and ``size`` newcomers; and the
    employee rows it should make."""
    lines, rows = [HEADER], set()
    people = [
        ("2001", "Anna", "Lindqvist", "anna", "2023-03-01"),
        ("2002", "Bengt", "Holm", "bengt", "2020-01-15"),
        ("2003", "Cecilia", "Nilsson", "cecilia", "2024-08-15"),
        ("2004", "David", "Åberg", "david", "2021-05-01"),
    ]
    people += [
        (str(100000 + i), f"Test{i}", f"Testsson{i}", f"test{i}", "2024-01-01") for i in range(size)
    ]
    for number, first, last, user, start in people:
        email = f"{user}@omsorg.example.se"
        lines.append(
            f"{number};{first};{last};{email};Hemtjänst Söder;Undersköterska;{start};;{user}\n"
        )
        rows.add(
            (
                number,
                user,
                first,
                last,
                email,
                "Hemtjänst Söder",
                "Undersköterska",
                start,
                "None",
                "1",
            )
        )
    return "".join(lines), rows


def roster_rows(platform: Platform) -> set[tuple[str, ...]]:
    with contextlib.closing(sqlite3.connect(platform.records_db, timeout=30)) as db:
        return {tuple(map(str, r)) for r in db.execute(f"SELECT {COLUMNS} FROM employee")}


def imports_logged(platform: Platform) -> int:
    with contextlib.closing(sqlite3.connect(platform.records_db, timeout=30)) as db:
        return int(db.execute("SELECT count(*) FROM roster_import").fetchone()[0])


def writing(platform: Platform) -> bool:
    """Someone holds the records database's write lock (a transaction is under way)."""
    with contextlib.closing(sqlite3.connect(platform.records_db, timeout=0)) as db:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return "locked" in str(exc)
        db.rollback()
        return False


def xsrf(page: str) -> str:
    found = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert found, "the form has no xsrf token"
    return found.group(1)


def dry_run(hr: httpx.Client, text: str) -> tuple[str, str]:
    """HR uploads the file; the dry run's confirm address and form token."""
    page = hr.get(RECORDS + "import")
    assert page.status_code == 200, page.text[:300]
    reply = hr.post(
        RECORDS + "import",
        files={"fil": ("personal.csv", text.encode())},
        data={"_xsrf": xsrf(page.text)},
        timeout=300,
    )
    assert reply.status_code == 200, reply.text[-2000:]
    confirm = re.search(r'action="(/services/records/import/[^"]+)"', reply.text)
    assert confirm, reply.text[-2000:]
    return confirm.group(1), xsrf(reply.text)


def test_kill_records_during_a_roster_import(faulty: tuple[Platform, Hub]) -> None:
    platform, _hub = faulty
    text, new = big_roster(20_000)
    old, old_imports = roster_rows(platform), imports_logged(platform)
    assert old and old != new and not old & new
    hr = platform.login("hanna")
    confirm, token = dry_run(hr, text)
    records = service(platform, "records")
    assert records is not None
    reply: dict[str, Any] = {}

    def confirm_import() -> None:
        try:
            reply["response"] = hr.post(confirm, data={"_xsrf": token}, timeout=300)
        except httpx.HTTPError as exc:
            reply["error"] = exc

    thread = threading.Thread(target=confirm_import)
    started = time.monotonic()
    thread.start()

    locked_since: list[float] = []

    def mid_import() -> bool:
        # a write transaction held for a while (the service's other writes are brief)
        if reply or not writing(platform) or roster_rows(platform) != old:
            locked_since.clear()
            return False
        locked_since.append(time.monotonic())
        return locked_since[-1] - locked_since[0] > 0.3

    # the confirmation is in flight, the service holds the write lock, nothing committed
    poll(mid_import, 120, "the import under way", every=0.02)
    in_flight = time.monotonic() - started
    kill9(records, "records")
    thread.join(timeout=60)
    new_pid = wait_back(platform, "records", records.pid)
    after = roster_rows(platform)
    which = "old" if after == old else "new" if after == new else "MIXED"
    answer = reply.get("response")
    succeeded = answer is not None and "Importerat från" in answer.text
    figures = (
        f"imported rows {len(new)}; after the kill the roster is the {which} one "
        f"({len(after)} rows; {len(after & new)} of the new, {len(after & old)} of the old; "
        f"killed {in_flight:.1f} s into the confirmation, its write lock held "
        f"{locked_since[-1] - locked_since[0]:.1f} s; records {records.pid} -> {new_pid}; "
        f"HR was told: {answer.status_code if answer is not None else 'nothing'})"
    )
    print(figures)
    assert new_pid != records.pid and not succeeded, figures
    assert which != "MIXED", figures
    assert imports_logged(platform) == old_imports + (which == "new"), figures

    # a second import of the same file then succeeds
    confirm, token = dry_run(hr, text)
    clean = time.monotonic()
    done = hr.post(confirm, data={"_xsrf": token}, timeout=300)
    print(f"a clean import of the same file: {time.monotonic() - clean:.1f} s")
    assert done.status_code == 200 and "Importerat från personal.csv" in done.text, done.text[
        -2000:
    ]
    assert roster_rows(platform) == new, figures
    assert imports_logged(platform) == old_imports + 1 + (which == "new"), figures
    hr.close()


# -- the hub -------------------------------------------------------------------------------


def proxies(platform: Platform) -> list[psutil.Process]:
    port = platform.url.rsplit(":", 1)[1]
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "configurable-http-proxy" in cmdline and f"--port {port}" in cmdline:
            out.append(proc)
    return out


def every_service(platform: Platform) -> dict[str, list[int]]:
    """The pids running each managed service (one each when all is well)."""
    out: dict[str, list[int]] = {name: [] for name in SERVICES}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        for name, module in SERVICES.items():
            if module in cmdline and any(str(platform.project) in arg for arg in cmdline):
                with contextlib.suppress(psutil.Error):
                    if proc.status() != psutil.STATUS_ZOMBIE:
                        out[name].append(proc.pid)
    return out


def all_submissions(platform: Platform) -> list[tuple[Any, ...]]:
    with contextlib.closing(submissions_db(platform)) as db:
        return sorted(db.execute("SELECT id, learner, status, result FROM submission").fetchall())


def all_answers(platform: Platform) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(platform.learn_db, timeout=30)) as db:
        return sorted(db.execute("SELECT learner, module, kind, key, value FROM answer").fetchall())


def all_reflections(platform: Platform) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(platform.learn_db, timeout=30)) as db:
        return dict(db.execute("SELECT learner, text FROM reflection").fetchall())


def test_kill_the_hub(faulty: tuple[Platform, Hub]) -> None:
    platform, hub = faulty
    store = answers(platform)
    right = right_answers(EXAMPLE)
    # anna's page is open (its kernel runs in learn); another learner has handed in
    anna = platform.login("anna")
    open_page(anna)
    token = store.open_session("navet", EXAMPLE.id, EXAMPLE.version)
    loaded = page_api(platform, "load", token).json()
    for qid in loaded["attempt"]["questions"]:
        saved = page_api(platform, "save", token, {"kind": "svar", "key": qid, "value": right[qid]})
        assert saved.status_code == 200, saved.text
    handed = page_api(platform, "submit", token)
    assert handed.status_code == 200 and handed.json()["status"] == "klar", handed.text
    submissions, saved_answers = all_submissions(platform), all_answers(platform)
    reflections = all_reflections(platform)
    old = {name: service(platform, name) for name in SERVICES}
    families = {}
    for name, proc in old.items():
        assert proc is not None, name
        families[name] = [proc, *proc.children(recursive=True)]
    old_proxy = [p.pid for p in proxies(platform)]
    assert len(old_proxy) == 1, old_proxy

    first_hub = platform.pid
    kill9(psutil.Process(first_hub), "the hub")
    # the page's kernel goes on saving, straight to learn, while it is there
    acked_down: list[int] = []
    for n in range(1, 21):
        try:
            reply = page_api(
                platform,
                "save",
                token,
                {"kind": "reflektion", "key": REFLECTION, "value": f"navet utan hubb {n}"},
            )
        except httpx.HTTPError:
            break
        if reply.status_code == 200:
            acked_down.append(n)
        time.sleep(0.2)
    left = {name: [p.pid for p in survivors([proc])] for name, proc in old.items() if proc}
    proxy_left = [p.pid for p in proxies(platform)]

    new_hub = hub.restart()

    def up() -> bool:
        login_page = httpx.get(f"{platform.url}/hub/login", timeout=5).status_code == 200
        return login_page and all(answers(platform) for answers in ANSWERS.values())

    poll(up, 180, "the restarted hub and its services")
    # learners log in again, and a page opened again shows what was saved
    again = platform.login("anna")
    url, cookie = channels(platform, again, open_page(again))

    async def reopen() -> str:
        async with websockets.connect(
            url, additional_headers={"Cookie": cookie}, open_timeout=60
        ) as ws:
            states = await widget_states(ws, "anna", seconds=150)
            return str(states[reflection_model(states)]["state"]["value"])

    shown = asyncio.run(reopen())
    again.close()
    anna.close()
    # nothing lost: answers, the reflection saved while the hub was away, submissions
    expected_reflections = dict(reflections)
    if acked_down:
        expected_reflections["navet"] = f"navet utan hubb {acked_down[-1]}"
    now_reflections = all_reflections(platform)
    kept = sum(
        1
        for n in acked_down
        if (found := re.fullmatch(r"navet utan hubb (\d+)", now_reflections.get("navet", "")))
        and int(found.group(1)) >= n
    )
    running = every_service(platform)
    learn_pids = running["learn"]
    figures = (
        f"acknowledged {len(acked_down)} saves with the hub dead, kept {kept}; "
        f"answers {len(saved_answers)} kept {len(set(saved_answers) & set(all_answers(platform)))}, "
        f"submissions {len(submissions)} kept {len(set(submissions) & set(all_submissions(platform)))}; "
        f"hub {first_hub} -> {new_hub}; left running by the dead hub: proxy {proxy_left}, "
        f"services {left}; after the restart: proxy {[p.pid for p in proxies(platform)]}, "
        f"services {running}"
    )
    print(figures)
    assert new_hub != first_hub, figures
    assert kept == len(acked_down), figures
    assert shown == now_reflections.get("anna", ""), (shown, figures)
    assert all_answers(platform) == saved_answers, figures
    assert now_reflections == expected_reflections, figures
    assert all_submissions(platform) == submissions, figures
    assert len(proxies(platform)) == 1, figures
    # learn went with its hub, and the restarted hub's learn serves alone
    assert len(learn_pids) == 1 and learn_pids[0] != old["learn"].pid, figures  # type: ignore[union-attr]

    # grading and records went with their hub too (omsorgslyft.lifeline): the restarted
    # hub's own serve, and HR logs in to records (its OAuth client secret is the new hub's)
    outlived = {
        name: pids
        for name, pids in running.items()
        if old[name] is not None and old[name].pid in pids  # type: ignore[union-attr]
    }
    try:
        hr = platform.login("hanna")
        hr_in = hr.get(RECORDS + "import").status_code == 200
        hr.close()
    except AssertionError:
        hr_in = False
    for name in outlived:
        reap(families[name])
    kill_orphans(platform)
    assert not outlived, f"services outlived the killed hub: {outlived} ({figures})"
    assert hr_in, figures


LIFELINE = """
import os, sys, time
from tornado.ioloop import IOLoop
from omsorgslyft import lifeline
import logging
watched = lifeline.watch_hub(logging.getLogger("lifeline"))
print("watching" if watched else "not watching", flush=True)
IOLoop.current().start()
"""
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_service_goes_when_its_hub_goes(tmp_path: Path) -> None:
    """omsorgslyft.lifeline: a process whose parent is a JupyterHub stops once that
    parent is killed; under any other parent it does not watch."""
    hub_script = tmp_path / "jupyterhub"
    other_script = tmp_path / "systemd-ish"
    for script in (hub_script, other_script):
        script.write_text(PARENT, encoding="utf-8")
    outcome = {}
    for script in (hub_script, other_script):
        parent = subprocess.Popen(
            [sys.executable, str(script), LIFELINE],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        said = parent.stdout.readline().decode().strip()
        parent.kill()
        parent.wait()
        try:
            # it looks every 2 s: a watcher has stopped long before this
            child.wait(timeout=15 if script is hub_script else 6)
            outcome[script.name] = (said, "stopped")
        except psutil.TimeoutExpired:
            outcome[script.name] = (said, "running")
            child.kill()
    assert outcome == {
        "jupyterhub": ("watching", "stopped"),
        "systemd-ish": ("not watching", "running"),
    }, outcome
