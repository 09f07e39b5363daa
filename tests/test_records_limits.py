"""The records service reads a large body only from HR, and only for the roster upload."""

from __future__ import annotations

import socket

import pytest
from platform_fixture import Platform
from test_records_service import BASE, clients, imports, xsrf

pytestmark = pytest.mark.slow


def raw_post(platform: Platform, path: str, size: int, cookie: str = "") -> tuple[int, int]:
    """POST ``size`` bytes straight to the records port; returns the status and how many
    bytes got through before the service stopped taking them. A service that does not read
    the body takes no more than the socket buffers hold (a few MB on loopback)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
        f"boundary=x\r\nContent-Length: {size}\r\n{cookie}Connection: close\r\n\r\n"
    ).encode()
    reply, sent = b"", 0
    with socket.create_connection(("127.0.0.1", platform.records_port), timeout=5) as s:
        s.sendall(head)
        chunk = b"x" * 65536
        try:
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the service closed the connection (or stopped reading)
        try:
            while b"\r\n" not in reply:
                more = s.recv(65536)
                if not more:
                    break
                reply += more
        except (ConnectionResetError, TimeoutError):
            pass
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, sent


def test_no_large_body_is_read_before_the_sender_is_known(records_platform: Platform) -> None:
    before = imports(records_platform)
    size = 50 * 1024 * 1024  # under the upload limit: the old service read it all
    # no login at all: refused before the body is read
    status, sent = raw_post(records_platform, BASE + "import", size)
    assert status in (302, 403) and sent < 20 * 1024 * 1024, (status, sent)
    # a learner's session cookie: refused the same way
    learner = clients(records_platform)["learner"]
    cookie = "Cookie: " + "; ".join(f"{c.name}={c.value}" for c in learner.cookies.jar) + "\r\n"
    status, sent = raw_post(records_platform, BASE + "import", size, cookie)
    assert status == 403 and sent < 20 * 1024 * 1024, (status, sent)
    # any other route takes small bodies only
    status, sent = raw_post(records_platform, BASE + "anstalld/1099/radera", size)
    assert status in (400, 413) and sent < 20 * 1024 * 1024, (status, sent)
    assert imports(records_platform) == before


def test_hr_still_uploads_a_roster(records_platform: Platform) -> None:
    hr = clients(records_platform)["hr"]
    page = hr.get(BASE + "import")
    padding = "\n" * 200_000  # bigger than the small limit; blank lines are skipped
    csv = (
        "anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från\n"
        "1;Anna;Ek;anna@x.se;Hemtjänst Norr;undersköterska;2020-01-01" + padding
    )
    reply = hr.post(
        BASE + "import", data={"_xsrf": xsrf(page.text)}, files={"fil": ("stor.csv", csv.encode())}
    )
    assert reply.status_code in (200, 400), reply.text[:300]
    assert "stor.csv" in reply.text  # the upload was read and planned (or its rows reported)
    # without the form token the upload is refused, after all
    assert hr.post(BASE + "import", files={"fil": ("p.csv", csv.encode())}).status_code == 403
