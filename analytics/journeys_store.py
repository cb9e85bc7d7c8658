"""Journeys results kept per data version: the funnel, paths and flow a page opens with are
counted over all events once, stored in the workspace, and read back on every later open.

After new data a count over all events can take a minute at 10M events, so a page asks for the
result's :class:`Counted` state first: the stored result (possibly from older data, flagged by
``fresh``) and a ``build`` that counts and stores the current one, which the page runs in the
background instead of blocking on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from analytics import stored
from analytics.journeys import DEFAULT_STEPS, Funnel, Paths, Sankey, funnel, paths, sankey
from analytics.versions import model_inputs_version
from analytics.workspace import Workspace

T = TypeVar("T")
#: Below this many events a recount takes a few seconds, so a page waits for it; above it the
#: page counts in the background (at 11.7M events the funnel, paths and flow took 84 s).
BACKGROUND_FROM_EVENTS = 1_000_000


@dataclass(frozen=True)
class Counted(Generic[T]):
    """A stored journeys result: ``result`` (None: never counted) and whether it was counted
    from the current data; ``build()`` counts over all events and stores the current one;
    ``key`` names this kind, settings and data version (one background job per key)."""

    result: T | None
    fresh: bool
    build: Callable[[], T]
    key: str


def _counted(ws: Workspace, kind: str, settings: dict[str, Any], compute: Callable[[], T]) -> Counted[T]:
    version = model_inputs_version(ws)
    found = stored.load_latest(ws, kind, settings)
    result, built_from = found if found is not None else (None, "")
    return Counted(cast(T | None, result), found is not None and built_from == version,
                   lambda: stored.load_or_build(ws, kind, settings, model_inputs_version(ws), compute),
                   f"{kind}|{stored.settings_key(settings)}|{version}")


def funnel_state(ws: Workspace, steps: tuple[str, ...] = DEFAULT_STEPS, per: str = "session",
                 window_days: float = 7.0, by: str | None = None,
                 segment_run: str | None = None) -> Counted[Funnel]:
    """The stored :func:`analytics.journeys.funnel` for these settings (see :class:`Counted`).

    The version includes the runs and the primary one, which a ``by="segment"`` breakdown reads.
    """
    settings = {"steps": list(steps), "per": per, "window_days": float(window_days), "by": by,
                "segment_run": segment_run}
    return _counted(ws, "journeys.funnel", settings,
                    lambda: funnel(ws, steps=steps, per=per, window_days=window_days, by=by,
                                   segment_run=segment_run))


def paths_state(ws: Workspace, detail: str, max_length: int, top: int, by: str | None,
                segment_run: str | None = None) -> Counted[Paths]:
    """The stored :func:`analytics.journeys.paths` for these settings (see :class:`Counted`)."""
    settings = {"detail": detail, "max_length": max_length, "top": top, "by": by,
                "segment_run": segment_run}
    return _counted(ws, "journeys.paths", settings,
                    lambda: paths(ws, detail=detail, max_length=max_length, top=top, by=by,
                                  segment_run=segment_run))


def sankey_state(ws: Workspace, detail: str, max_steps: int, min_share: float,
                 outcome: str) -> Counted[Sankey]:
    """The stored :func:`analytics.journeys.sankey` for these settings (see :class:`Counted`)."""
    settings = {"detail": detail, "max_steps": max_steps, "min_share": float(min_share),
                "outcome": outcome}
    return _counted(ws, "journeys.sankey", settings,
                    lambda: sankey(ws, detail=detail, max_steps=max_steps, min_share=min_share,
                                   outcome=outcome))


def _current(state: Counted[T]) -> T:
    return cast(T, state.result) if state.fresh else state.build()


def stored_funnel(ws: Workspace, steps: tuple[str, ...] = DEFAULT_STEPS, per: str = "session",
                  window_days: float = 7.0, by: str | None = None,
                  segment_run: str | None = None) -> Funnel:
    """:func:`analytics.journeys.funnel`, computed once per data version and settings."""
    return _current(funnel_state(ws, steps, per, window_days, by, segment_run))


def stored_paths(ws: Workspace, detail: str, max_length: int, top: int, by: str | None,
                 segment_run: str | None = None) -> Paths:
    """:func:`analytics.journeys.paths`, computed once per data version and settings."""
    return _current(paths_state(ws, detail, max_length, top, by, segment_run))


def stored_sankey(ws: Workspace, detail: str, max_steps: int, min_share: float,
                  outcome: str) -> Sankey:
    """:func:`analytics.journeys.sankey`, computed once per data version and settings."""
    return _current(sankey_state(ws, detail, max_steps, min_share, outcome))
