"""Journeys results kept per data version: the funnel, paths and flow a page opens with are
counted over all events once, stored in the workspace, and read back on every later open."""

from __future__ import annotations

from analytics import stored
from analytics.journeys import DEFAULT_STEPS, Funnel, Paths, Sankey, funnel, paths, sankey
from analytics.versions import model_inputs_version
from analytics.workspace import Workspace


def stored_funnel(ws: Workspace, steps: tuple[str, ...] = DEFAULT_STEPS, per: str = "session",
                  window_days: float = 7.0, by: str | None = None,
                  segment_run: str | None = None) -> Funnel:
    """:func:`analytics.journeys.funnel`, computed once per data version and settings.

    The version includes the runs and the primary one, which a ``by="segment"`` breakdown reads.
    """
    settings = {"steps": list(steps), "per": per, "window_days": float(window_days), "by": by,
                "segment_run": segment_run}
    return stored.load_or_build(ws, "journeys.funnel", settings, model_inputs_version(ws),
                                lambda: funnel(ws, steps=steps, per=per, window_days=window_days,
                                               by=by, segment_run=segment_run))


def stored_paths(ws: Workspace, detail: str, max_length: int, top: int, by: str | None,
                 segment_run: str | None = None) -> Paths:
    """:func:`analytics.journeys.paths`, computed once per data version and settings."""
    settings = {"detail": detail, "max_length": max_length, "top": top, "by": by,
                "segment_run": segment_run}
    return stored.load_or_build(ws, "journeys.paths", settings, model_inputs_version(ws),
                                lambda: paths(ws, detail=detail, max_length=max_length, top=top,
                                              by=by, segment_run=segment_run))


def stored_sankey(ws: Workspace, detail: str, max_steps: int, min_share: float,
                  outcome: str) -> Sankey:
    """:func:`analytics.journeys.sankey`, computed once per data version and settings."""
    settings = {"detail": detail, "max_steps": max_steps, "min_share": float(min_share),
                "outcome": outcome}
    return stored.load_or_build(ws, "journeys.sankey", settings, model_inputs_version(ws),
                                lambda: sankey(ws, detail=detail, max_steps=max_steps,
                                               min_share=min_share, outcome=outcome))
