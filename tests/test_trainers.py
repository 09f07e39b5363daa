"""Trainers get JupyterLab with nbgrader's formgrader; learners get no server at all."""

from __future__ import annotations

import time

import pytest
from platform_fixture import Platform

pytestmark = pytest.mark.slow


def test_learner_cannot_start_a_server(platform: Platform) -> None:
    anna = platform.login("anna")
    anna.follow_redirects = False
    assert anna.get("/hub/spawn").status_code == 403
    assert anna.get("/user/anna/lab").status_code in (302, 403, 404, 424)
    assert "/user/anna" not in str(anna.get("/hub/spawn", follow_redirects=True).url)


def test_trainer_gets_formgrader_on_the_course(platform: Platform) -> None:
    tove = platform.login("tove")
    tove.get("/hub/spawn")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        reply = tove.get("/user/tove/formgrader/manage_assignments")
        if reply.status_code == 200 and "/user/tove/" in str(reply.url):
            break
        time.sleep(1)
    else:
        pytest.fail(f"no formgrader: {reply.status_code} {reply.url}")
    # the formgrader reads the platform's own gradebook: the module built for learners is there
    page = tove.get("/user/tove/formgrader/gradebook/exempelmodul/")
    assert page.status_code == 200
    assert "exempelmodul" in page.text
    missing = tove.get("/user/tove/formgrader/gradebook/finns-inte/")
    assert "exempelmodul" not in missing.text or missing.status_code != 200
