"""Background jobs give way to the pages (issue 14): niced, one at a time, pausing at their step
boundaries while a page runs; the work the user is looking at (priority) does none of that."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from analytics import jobs
from analytics.jobs import Foreground, Job

linux_only = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is Linux")


def until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Poll a state change made by another thread (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def own_nice(say: Any) -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux_only
def test_a_background_job_runs_at_lower_priority_and_a_priority_job_does_not():
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    background = Job("count", own_nice, foreground=Foreground())
    priority = Job("map", own_nice, priority=True, foreground=Foreground())
    assert background.wait(20) and priority.wait(20)
    assert background.result == min(base + jobs.JOB_NICE, 19)
    assert priority.result == base
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # caller untouched


def test_a_background_job_waits_at_its_next_step_while_a_page_runs():
    pages = Foreground()
    steps: list[str] = []
    in_first_step, go_on = threading.Event(), threading.Event()

    def work(say: Any) -> str:
        steps.append("first")
        in_first_step.set()
        go_on.wait(20)
        say(0.5, "Second step")  # a step boundary: a page is running now, so it waits here
        steps.append("second")
        return "done"

    job = Job("count", work, serial=False, foreground=pages)
    assert in_first_step.wait(20)
    with pages.running():
        go_on.set()
        assert until(lambda: job.paused), "the job must pause for the running page"
        assert steps == ["first"] and not job.done
    assert job.wait(20) and job.result == "done" and steps == ["first", "second"]
    assert not job.paused and job.message == "Second step"


def test_a_background_job_started_during_a_page_run_begins_after_it():
    pages = Foreground()
    steps: list[str] = []
    with pages.running():
        job = Job("count", lambda say: steps.append("ran"), serial=False, foreground=pages)
        assert until(lambda: job.paused) and steps == []
    assert job.wait(20) and steps == ["ran"]


def test_a_priority_job_does_not_wait_for_the_pages():
    pages = Foreground()
    with pages.running():
        job = Job("map", lambda say: say(0.5, "Fitting") or 7, priority=True, foreground=pages)
        assert job.wait(20) and job.result == 7 and not job.paused


def test_background_jobs_run_one_at_a_time():
    release, order = threading.Event(), []

    def first(say: Any) -> None:
        order.append("first started")
        release.wait(20)
        order.append("first ended")

    one = Job("first", first, foreground=Foreground())
    assert until(lambda: order == ["first started"])
    two = Job("second", lambda say: order.append("second started"), foreground=Foreground())
    assert until(lambda: two.message == "Waiting for another background job")
    assert order == ["first started"], "the second job must not start while the first runs"
    release.set()
    assert one.wait(20) and two.wait(20)
    assert order == ["first started", "first ended", "second started"]


def test_a_pause_is_capped_so_a_busy_dashboard_still_finishes_its_jobs(monkeypatch):
    monkeypatch.setattr(jobs, "PAUSE_CAP_S", 0.05)
    pages = Foreground()
    with pages.running():  # a page that never ends
        job = Job("count", lambda say: say(0.5, "Step") or "done", serial=False, foreground=pages)
        assert job.wait(20) and job.result == "done"


def test_waiting_for_quiet_starts_over_whenever_a_page_runs_and_gives_up_at_the_timeout():
    pages = Foreground()
    assert pages.wait_quiet(0.05, 5)  # nothing running: quiet after 0.05 s
    done: list[float] = []

    def waiter() -> None:
        pages.wait_quiet(0.5, 20)
        done.append(time.monotonic())

    thread = threading.Thread(target=waiter)
    thread.start()
    for _ in range(3):  # three page runs 0.2 s apart: never 0.5 s of quiet
        with pages.running():
            time.sleep(0.05)
        last = time.monotonic()
        time.sleep(0.2)
        assert not done, "the wait ended while pages kept opening"
    thread.join(20)
    assert done and done[0] - last >= 0.45  # it waited a full quiet period after the last run
    with pages.running():
        assert not pages.wait_quiet(0.05, 0.2)  # a page still running at the timeout
