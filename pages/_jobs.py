"""Background jobs shared by every session of this server, and their progress on a page."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import streamlit as st

from analytics.jobs import FOREGROUND, Job, Progress

POLL_SECONDS = 1.0


@st.cache_resource(show_spinner=False)
def _registry() -> tuple[dict[str, Job], threading.Lock]:
    return {}, threading.Lock()


def background(key: str, name: str, fn: Callable[[Progress], Any], priority: bool = False) -> Job:
    """The job for ``key``, started now unless one is running or finished well (a failed job is
    started again, so a fixed problem does not need a restart). ``priority``: what the user is
    looking at (the map), not niced, serialized or paused for pages (``analytics.jobs``)."""
    jobs, lock = _registry()
    with lock:
        job = jobs.get(key)
        if job is None or job.error is not None:
            job = jobs[key] = Job(name, fn, priority=priority)
        return job


def current(key: str) -> Job | None:
    """The job for ``key`` if one was started (running or finished)."""
    jobs, _ = _registry()
    return jobs.get(key)


def forget(key: str) -> None:
    """Drop a finished job (its result has been stored elsewhere)."""
    jobs, lock = _registry()
    with lock:
        jobs.pop(key, None)


@st.fragment(run_every=POLL_SECONDS)
def progress(key: str) -> None:
    """The job's step and progress, refreshed every second; the page reruns when it ends."""
    jobs, _ = _registry()
    job = jobs.get(key)
    if job is None or job.done:
        st.rerun()
    paused = " · paused while a page opens" if job.paused else ""
    st.progress(job.fraction, f"{job.name}: {job.message}…{paused} ({job.elapsed:.0f} s)")


_WARM: list[Job] = []  # the process's one warm-up (a cleared cache must not compile again)
WARM_UP_QUIET_S = 1.0
WARM_UP_WAIT_S = 60.0


def _warm_up(say: Progress) -> None:
    """Once no page has run for WARM_UP_QUIET_S (or after WARM_UP_WAIT_S in constant use), then
    the import (analytics.embedding loads scikit-learn, 1.2 s of the first page run at 200k when
    the page imported it; already done when serve.py started the server) and the kernels
    (loaded from numba's disk cache after the first start). Started at once it took the GIL
    from the first pages opened: Home's first load 4.5 -> 5.5 s and Data's first open
    1.9 -> 3.2-4.5 s at 200k."""
    FOREGROUND.wait_quiet(WARM_UP_QUIET_S, WARM_UP_WAIT_S)
    from analytics import embedding

    embedding.warm_up()


@st.cache_resource(show_spinner=False)
def map_warm_up() -> Job:
    """Load (or, after an install, compile) UMAP's kernels in the background, once per server
    process (app.py calls this on every run; the cache makes every later call return at once,
    the list guards against a cleared cache starting a second compile)."""
    _, lock = _registry()
    with lock:
        if not _WARM:
            # At normal priority: a map started meanwhile waits on this compile (numba's compiler
            # lock), and the worker threads numba starts here inherit this thread's nice value and
            # serve every later map; niced, a map on a busy machine took 3x as long.
            _WARM.append(Job("Preparing the UMAP map (once per server start)",
                             _warm_up, priority=True))
        return _WARM[0]
