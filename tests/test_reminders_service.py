"""Reminders in the records service and on the command line: the service started with the
very command ``HubSettings`` gives the hub sends once a day and nothing again after a
restart; two ``omsorgslyft reminders send`` processes at once send each reminder once; the
dry run prints and sends nothing; the HR page ``paminnelser`` shows the last and next
sending, the log and a preview, and is HR's alone."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyterhub.services.auth import HubOAuth
from test_reminders_smtp import (
    EXPECTED,
    PUBLIC,
    SENDER,
    TODAY,
    Relay,
    World,
    fixed_world,
    free_port,
    make_world,
    running_relay,
)
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from traitlets.config import Config

from omsorgslyft.cli import main as cli
from omsorgslyft.hub.settings import HubSettings, apply
from omsorgslyft.records.handlers import HR_SCOPE
from omsorgslyft.records.service import make_app
from omsorgslyft.reminders.log import ReminderLog
from omsorgslyft.reminders.service import ReminderService

PREFIX = "/services/records/"


@pytest.fixture
def relay() -> Iterator[Relay]:
    yield from running_relay()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from fixed_world(tmp_path)


BIN = Path(sys.executable).parent


def db_args(w: World) -> list[str]:
    c = w.config
    return [
        f"--db-url={c.records_url}",
        f"--submissions-url={c.submissions_url}",
        f"--gradebook-url={c.gradebook_url}",
        f"--answers-url={c.answers_url}",
    ]


def smtp_args(port: int) -> list[str]:
    return [
        "--smtp-host=127.0.0.1",
        f"--smtp-port={port}",
        "--no-smtp-starttls",
        f"--smtp-sender={SENDER}",
        f"--public-url={PUBLIC}",
    ]


# -- the command line -------------------------------------------------------------------------
def test_the_dry_run_prints_what_would_go_out_and_sends_nothing(
    world: World, relay: Relay, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        f"--root={world.root}",
        "reminders",
        "--dry-run",
        "--text",
        f"--datum={TODAY}",
        *db_args(world),
    ]
    assert cli([*args, *smtp_args(relay.port)]) == 0
    out = capsys.readouterr().out
    for address in EXPECTED:
        assert f"<{address}>" in out
    assert "olle@" not in out and "tomas@" not in out
    assert "1001 <anna@kommun.example.se>: Omsorgslyft: din utbildning ska snart vara klar" in out
    assert "Hej Anna!" in out and f"{PUBLIC}/services/learn/" in out  # --text
    assert f"Provkörning {TODAY}, inget skickades: 5 mejl skulle skickas." in out
    time.sleep(0.2)
    assert relay.inbox.received == []
    log = ReminderLog(world.records().store)
    assert log.entries() == [] and log.runs() == []
    # sending is for today only
    assert (
        cli([f"--root={world.root}", "reminders", "send", f"--datum={TODAY}", *db_args(world)]) == 2
    )


@pytest.mark.slow  # processes
def test_two_processes_at_once_send_each_reminder_once(tmp_path: Path, relay: Relay) -> None:
    w = make_world(tmp_path, date.today())  # the command sends for today
    try:
        command = [
            str(BIN / "omsorgslyft"),
            f"--root={w.root}",
            "reminders",
            "send",
            *db_args(w),
            *smtp_args(relay.port),
        ]
        runs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in runs]
        assert [p.returncode for p in runs] == [0, 0], outputs
        assert relay.inbox.to() == EXPECTED, outputs
        relay.inbox.by_address()  # one message each
        assert sum(int(o.rsplit(" mejl skickade", 1)[0].split()[-1]) for o in outputs) == 5
        assert ReminderLog(w.records().store).count() == 5
        # and once more: nothing left
        again = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert "0 mejl skickade" in again.stdout and len(relay.inbox.received) == 5
    finally:
        w.close()


# -- the records service ------------------------------------------------------------------------
def service_command(
    w: World, smtp_port: int, data: Path, **changes: Any
) -> tuple[list[str], dict[str, str], str]:
    """The records service's command and environment exactly as the hub gets them."""
    settings = HubSettings(
        project_root=w.root,
        data_dir=data,
        records_url=w.config.records_url,
        submissions_url=w.config.submissions_url,
        gradebook_url=w.config.gradebook_url,
        store_url=w.config.answers_url,
        python=sys.executable,
        reminders=True,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        smtp_sender=SENDER,
        reminder_hour=0,
        **changes,
    )
    c = Config()
    apply(c, settings)
    (service,) = [s for s in c.JupyterHub.services if s["name"] == "records"]
    return service["command"], service["environment"], service["cwd"]


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_service(
    procs: list[subprocess.Popen[bytes]],
    command: list[str],
    env: dict[str, str],
    cwd: str,
    log: Path,
) -> int:
    port = free_port()
    env = {**env, "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}"}
    Path(cwd).mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "--sync-interval=0.2"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    procs.append(proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}{PREFIX}records.css", timeout=2)
            return port
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(log.read_text())


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


@pytest.mark.slow  # processes
def test_the_records_service_sends_once_a_day_and_not_again_after_a_restart(
    tmp_path: Path, relay: Relay, started: list[subprocess.Popen[bytes]]
) -> None:
    w = make_world(tmp_path, date.today())
    log_file = tmp_path / "records.log"
    try:
        password_file = tmp_path / "smtp-password"
        password_file.write_text("inte-på-kommandoraden\n")
        command, env, cwd = service_command(
            w, relay.port, tmp_path / "var", smtp_password_file=str(password_file)
        )
        assert "--reminders" in command and "--no-smtp-starttls" in command
        assert not any("inte-på-kommandoraden" in a for a in command)
        assert "OMSORGSLYFT_SMTP_PASSWORD" not in env
        start_service(started, command, env, cwd, log_file)
        deadline = time.monotonic() + 60
        while len(relay.inbox.received) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # a few more passes of the loop
        assert relay.inbox.to() == EXPECTED, log_file.read_text()
        log = ReminderLog(w.records().store)
        (run,) = log.runs()
        assert run.ok and run.sent == 5 and run.by == "tjänsten"
        text = log_file.read_text()
        assert "reminder sent to 1001: klar snart: exempelmodul" in text
        assert "Hej Anna" not in text  # no message text in the service's log

        stop(started[-1])
        start_service(started, command, env, cwd, log_file)  # a restart, the same day
        time.sleep(2.0)  # ten passes of its loop
        assert len(relay.inbox.received) == 5
        assert len(log.runs()) == 1
    finally:
        w.close()


# -- the HR page ------------------------------------------------------------------------------
USERS = {
    "hanna": [HR_SCOPE],
    # a manager holds the register's scope filtered to her unit: not the reminders
    "gunilla": [f"{HR_SCOPE}!group=enhet:hemtjanst-norr"],
    "anna": ["read:users:name!user"],
}


class HubUsers(HubOAuth):  # type: ignore[misc]
    """Stands in for the hub's login: the request's ``X-Test-User`` with the scopes above."""

    def get_user(self, handler: Any, **kwargs: Any) -> dict[str, Any]:
        name = handler.request.headers.get("X-Test-User", "")
        return {
            "kind": "user",
            "name": name,
            "admin": False,
            "groups": [],
            "roles": [],
            "scopes": USERS.get(name, []),
        }


def fetch(service: ReminderService, *requests: tuple[str, str]) -> list[tuple[int, str]]:
    auth = HubUsers(
        api_token="t" * 32,
        api_url="http://127.0.0.1:9/hub/api",
        oauth_client_id="service-records",
        base_url=PREFIX,
        hub_prefix="/hub/",
    )

    async def go() -> list[tuple[int, str]]:
        sock, port = bind_unused_port()
        server = HTTPServer(make_app(service.records, PREFIX, auth, "/hub/", reminders=service))
        server.add_sockets([sock])
        client = AsyncHTTPClient()
        out = []
        try:
            for user, path in requests:
                try:
                    reply = await client.fetch(
                        f"http://127.0.0.1:{port}{PREFIX}{path}",
                        headers={"X-Test-User": user},
                        follow_redirects=False,
                    )
                    out.append((reply.code, reply.body.decode()))
                except HTTPClientError as exc:
                    body = exc.response.body.decode() if exc.response else ""
                    out.append((exc.code, body))
            return out
        finally:
            server.stop()
            client.close()

    return asyncio.run(go())


def test_the_hr_page_shows_the_next_sending_the_preview_and_the_log(
    world: World, relay: Relay
) -> None:
    service = world.service(relay.port)
    ((code, before),) = fetch(service, ("hanna", "paminnelser"))
    assert code == 200
    assert "<h1>Påminnelser per e-post</h1>" in before
    assert "Inget utskick ännu." in before
    assert f"{TODAY.isoformat()} 08:00" in before  # due now: the clock says 08:00, hour 7
    assert "Det här skulle nästa utskick skicka (5 mejl)" in before
    assert "anna@kommun.example.se" in before and "olle@" not in before
    assert "Hej Anna!" in before  # the text, under "Visa texten"
    assert '<th scope="col">Till</th>' in before and "Inga påminnelser är skickade ännu." in before
    assert relay.inbox.received == []  # the page sends nothing

    service.run(TODAY)
    ((code, after),) = fetch(service, ("hanna", "paminnelser"))
    assert code == 200
    assert "5 mejl skickade" in after
    assert f"{(TODAY + timedelta(days=1)).isoformat()} 07:00" in after  # tomorrow at 7
    assert "Logg (senaste först)" in after
    for number in ("1001", "1002", "1003", "1005", "1008"):
        assert f'<th scope="row">{number}<br>' in after
    assert "Veckobrev till chef" in after and "Försenad: Exempelmodul" in after
    assert "Skickat" in after and "Inga påminnelser att skicka." in after  # all done
    assert "Hej Anna!" not in after.split("Logg (senaste först)")[1]  # no text in the log


def test_only_hr_may_see_the_reminders_page(world: World, relay: Relay) -> None:
    service = world.service(relay.port)
    replies = fetch(service, ("gunilla", "paminnelser"), ("anna", "paminnelser"))
    assert [code for code, _ in replies] == [403, 403]
    for _, body in replies:
        assert "anna@kommun.example.se" not in body and "Påminnelser" not in body
    # switched off (the default): the page says so, and shows what would go
    off = ReminderService(service.config.__class__(), service.records, service.clock)
    ((code, body),) = fetch(off, ("hanna", "paminnelser"))
    assert code == 200 and "Avstängda" in body and "om påminnelserna var påslagna" in body


def test_a_service_that_is_switched_off_sends_nothing(world: World, relay: Relay) -> None:
    service = world.service(relay.port, enabled=False)
    assert asyncio.run(service.tick()) is None
    on = world.service(relay.port)
    report = asyncio.run(on.tick())
    assert report is not None and report.sent == 5
    assert asyncio.run(on.tick()) is None  # done for today
    assert len(relay.inbox.received) == 5


def test_half_settings_are_refused_and_the_password_comes_from_the_environment(
    tmp_path: Path,
) -> None:
    """What the service does with its options at start (``reminder_config.from_args``)."""
    import argparse

    from omsorgslyft.reminders import config as reminder_config

    parser = argparse.ArgumentParser()
    reminder_config.add_arguments(parser)
    login = ["--reminders", "--smtp-host=relay", "--smtp-sender=noreply@kommun.se"]
    login.append("--smtp-username=omsorgslyft")
    with pytest.raises(ValueError, match="no password"):
        reminder_config.from_args(parser.parse_args(login), {})
    env = {"OMSORGSLYFT_SMTP_PASSWORD": "från-miljön"}
    assert reminder_config.from_args(parser.parse_args(login), env).smtp.password == "från-miljön"
    secret = tmp_path / "losen"
    secret.write_text("från-filen\n")
    got = reminder_config.from_args(
        parser.parse_args([*login, f"--smtp-password-file={secret}"]), {}
    )
    assert got.smtp.password == "från-filen" and "från-filen" not in repr(got)
    with pytest.raises(ValueError, match="no e-mail address"):
        reminder_config.from_args(
            parser.parse_args(["--reminders", "--smtp-host=relay", "--smtp-sender=x"]), {}
        )
    off = reminder_config.from_args(parser.parse_args([]), {})  # the default: off, unchecked
    assert not off.enabled and off.rules.expiry_days == 30 and off.rules.due_days == 14
