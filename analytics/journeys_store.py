"""Journeys results kept per data version: the funnel, paths and flow a page opens with are
counted over all events once, stored in the workspace, and read back on every later open.

After new data a count over all events can take a minute at 10M events, so a page asks for the
result's :class:`analytics.stored.Counted` state first: the stored result (possibly from older
data, flagged by ``fresh``) and a ``build`` that counts and stores the current one, which the
page runs in the background instead of blocking on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from analytics import stored
from analytics.journeys import DEFAULT_STEPS, Funnel, Paths, Sankey, funnel, paths, sankey
from analytics.stored import Counted, current
from analytics.versions import model_inputs_version
from analytics.workspace import Workspace

T = TypeVar("T")

def _counted(ws: Workspace, kind: str, settings: dict[str, Any], compute: Callable[[], T]) -> Counted[T]:
    return stored.state(ws, kind, settings, model_inputs_version, compute)


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


def stored_funnel(ws: Workspace, steps: tuple[str, ...] = DEFAULT_STEPS, per: str = "session",
                  window_days: float = 7.0, by: str | None = None,
                  segment_run: str | None = None) -> Funnel:
    """:func:`analytics.journeys.funnel`, computed once per data version and settings."""
    return current(funnel_state(ws, steps, per, window_days, by, segment_run))


def stored_paths(ws: Workspace, detail: str, max_length: int, top: int, by: str | None,
                 segment_run: str | None = None) -> Paths:
    """:func:`analytics.journeys.paths`, computed once per data version and settings."""
    return current(paths_state(ws, detail, max_length, top, by, segment_run))


def stored_sankey(ws: Workspace, detail: str, max_steps: int, min_share: float,
                  outcome: str) -> Sankey:
    """:func:`analytics.journeys.sankey`, computed once per data version and settings."""
    return current(sankey_state(ws, detail, max_steps, min_share, outcome))
