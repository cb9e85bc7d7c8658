"""Stored results rebuilt in the background on a large shop: the page shows the older result
(flagged) or a prompt with the job's progress, and never blocks on a count over all events."""

from __future__ import annotations

from typing import TypeVar, cast

import streamlit as st

from analytics import stored
from analytics.jobs import Progress
from analytics.stored import Counted
from pages._jobs import background, forget, progress
from pages._shared import cached_overview, workspace

T = TypeVar("T")


def in_background(what: str, state: Counted[T]) -> T | None:
    """The current result; on a large shop, while it is rebuilt in the background, the older
    one (flagged) or None, with the job's progress shown. ``what`` names it ("the funnel")."""
    if state.fresh:
        forget(state.key)  # a finished job for this version: its result is the stored one
        return state.result
    if cached_overview(str(workspace().path)).events < stored.BACKGROUND_FROM_EVENTS:
        with st.spinner(f"Computing {what} over all events (once per data version)…"):
            return state.build()

    def build(say: Progress) -> T:  # one background job at a time (analytics.jobs.SERIAL)
        say(0.1, f"Computing {what} over all events")
        return state.build()

    job = background(state.key, f"Computing {what}", build)
    if job.done:
        forget(state.key)
        if job.error is not None:
            raise job.error
        return cast(T, job.result)
    if state.result is not None:
        st.warning(f"Showing {what} computed from older data: the new data is being counted in "
                   "the background and replaces it when done.", icon=":material/update:")
    else:
        st.info(f"Computing {what} over all events for the first time (once per data version); "
                "it shows here when done.", icon=":material/hourglass_top:")
    progress(state.key)
    return state.result
