"""Background jobs with progress: heavy work started by a page runs in a thread, so the page
renders at once and shows the step's name and progress while the work goes on.

A :class:`Job` runs ``fn(progress)`` once; ``progress(fraction, message)`` updates what the page
shows. The registry of running jobs (one per key, shared by every session) lives in the UI layer
(``pages/_jobs.py``); this module has no Streamlit.

Pages come first (issue 14: at 200k shoppers the counts that first opens started, about a minute
of CPU, made the next pages 3-4x slower on this 2-core machine). A background job therefore

* runs its thread at a lower OS priority (``JOB_NICE``; on Linux nice is per thread, and the
  threads a job starts itself, e.g. implicit's or OpenMP's, inherit it), so DuckDB work a page
  does in its own thread gets the cores first;
* runs one at a time with the other background jobs (:data:`SERIAL`), so at most one competes;
* at every ``progress`` call (its steps' boundaries) waits while a page's script runs or an
  interactive job (the map the user is looking at) computes — see :data:`FOREGROUND` — but never
  longer than ``PAUSE_CAP_S`` at a time, so a dashboard in constant use still finishes its jobs.

Thread pools inherit the nice value of the thread that starts them (numba's, OpenMP's): work
that later maps or pages depend on, such as the UMAP warm-up, runs as a ``priority`` job.

A ``priority=True`` job (what the user is waiting for on screen) does none of this; while it
computes it may mark itself foreground (``FOREGROUND.running()``) so background jobs pause.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

Progress = Callable[[float, str], None]

#: Added to a background job thread's nice value (0 = same priority as the pages).
JOB_NICE = 5
#: The longest a background job waits at one step boundary for the pages to finish.
PAUSE_CAP_S = 30.0


class Foreground:
    """How many page runs (and interactive jobs) are going on now; background jobs wait for 0."""

    def __init__(self) -> None:
        self._busy = 0
        self._changed = threading.Condition()

    @property
    def busy(self) -> int:
        return self._busy

    @contextmanager
    def running(self) -> Iterator[None]:
        """Mark a page run (or an interactive job) for as long as the block lasts."""
        with self._changed:
            self._busy += 1
            self._changed.notify_all()  # wakes wait_quiet: the quiet was broken
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing runs in the foreground (True) or ``timeout`` passed (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == 0, timeout)

    def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Block until nothing has run in the foreground for ``quiet`` seconds in a row (True),
        or ``timeout`` passed (False): for work that should start once the user reads a page,
        not between two page opens."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (left := deadline - time.monotonic()) > 0:
                if not self._changed.wait_for(lambda: self._busy == 0, left):
                    return False
                if not self._changed.wait_for(lambda: self._busy > 0, min(quiet, left)):
                    return left >= quiet  # no page started for the whole quiet period
        return False


#: The process's page runs; ``app.py`` wraps every script run in ``FOREGROUND.running()``.
FOREGROUND = Foreground()
#: Background jobs run one after another (each already uses every core in DuckDB).
SERIAL = threading.Lock()


def lower_priority(nice: int = JOB_NICE) -> None:
    """Make the calling thread (and the threads it starts) yield the CPU to the pages'.

    ``os.setpriority`` with a thread's native id sets that thread's nice value on Linux; where
    that is not supported (or not allowed) the job simply runs at normal priority."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)


class Job:
    """``fn(progress)`` running in a daemon thread; read ``done``, ``error``, ``result``.

    ``priority=False`` (the default): a background job, niced, serialized and pausing for the
    pages at each progress call (module docstring). ``priority=True``: the work the user is
    waiting for on screen; it runs at once and at normal priority. ``serial=False``: niced and
    pausing, but not queued behind the other background jobs (UMAP's warm-up, which the map
    waits for)."""

    def __init__(self, name: str, fn: Callable[[Progress], Any], *, priority: bool = False,
                 serial: bool = True, foreground: Foreground | None = None) -> None:
        self.name = name
        self.priority = priority
        self.serial = serial and not priority
        self.fraction = 0.0
        self.message = "Starting"
        self.paused = False  # waiting for a page to finish (tests and the progress line read it)
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self._fn = fn
        self._foreground = foreground or FOREGROUND
        self._thread = threading.Thread(target=self._run, name=f"job: {name}", daemon=True)
        self._thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message
        self._yield_to_pages()

    def _yield_to_pages(self) -> None:
        """A step boundary: let a running page (or the map being computed) finish first."""
        if self.priority or not self._foreground.busy:
            return
        self.paused = True
        try:
            self._foreground.wait_idle(PAUSE_CAP_S)
        finally:
            self.paused = False

    def _run(self) -> None:
        try:
            if self.priority:
                self.result = self._fn(self._progress)
                return
            lower_priority()
            if self.serial and SERIAL.locked():
                self.message = "Waiting for another background job"
            with SERIAL if self.serial else nullcontext():
                self._yield_to_pages()
                self.result = self._fn(self._progress)
        except BaseException as e:  # noqa: BLE001 - reported to the page that waits for it
            self.error = e
        finally:
            self.finished = time.monotonic()

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests, the CLI); True when it did."""
        self._thread.join(timeout)
        return self.done
