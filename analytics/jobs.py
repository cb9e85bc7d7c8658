"""Background jobs with progress: heavy work started by a page runs in a thread, so the page
renders at once and shows the step's name and progress while the work goes on.

A :class:`Job` runs ``fn(progress)`` once; ``progress(fraction, message)`` updates what the page
shows. The registry of running jobs (one per key, shared by every session) lives in the UI layer
(``pages/_jobs.py``); this module has no Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Progress = Callable[[float, str], None]


class Job:
    """``fn(progress)`` running in a daemon thread; read ``done``, ``error``, ``result``."""

    def __init__(self, name: str, fn: Callable[[Progress], Any]) -> None:
        self.name = name
        self.fraction = 0.0
        self.message = "Starting"
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.finished: float | None = None
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name=f"job: {name}", daemon=True)
        self._thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message

    def _run(self) -> None:
        try:
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
