"""Journeys: funnel counts against an independent pandas computation on the demo shop, paths
and Sankey folding on hand-computed tiny cases, bad input, and the CLI contract."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.cli import main
from analytics.errors import ConfigError, NotFoundError
from analytics.journeys import ALL, OTHER, funnel, paths, sankey
from analytics.workspace import Workspace

T0 = datetime(2026, 1, 5, 10, 0, 0)
STEPS = ("view", "cart", "checkout", "purchase")


def add_events(ws: Workspace, rows: list[tuple[object, ...]]) -> None:
    """rows: (user_id, minutes after T0, event_type, category, session_id[, source, device])."""
    full = [(*r, *("online", "mobile")[len(r) - 5:]) for r in rows]
    with ws.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (user_id, event_time, event_type, category, session_id, source, "
            "device, channel, dataset_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'email', 'test')",
            [(u, T0 + timedelta(minutes=m), t, c, s, src, dev) for u, m, t, c, s, src, dev in full])


# --- an independent reference: greedy chains from every step-1 event, in plain Python --------

def reference_levels(events: pd.DataFrame, steps: tuple[str, ...], per: str,
                     window: timedelta) -> pd.Series:
    """Deepest step reached per unit (units without step 1 omitted)."""
    ev = events[events["event_type"].isin(steps)].copy()
    ev["step"] = ev["event_type"].map({s: i + 1 for i, s in enumerate(steps)})
    day = "day:" + ev["event_time"].dt.strftime("%Y-%m-%d")
    ev["unit"] = ev["user_id"] if per == "user" else ev["user_id"] + "|" + ev["session_id"].fillna(day)
    ev = ev.sort_values(["unit", "event_time", "step"], kind="stable")
    units, times, kinds = ev["unit"].to_numpy(), ev["event_time"].to_numpy(), ev["step"].to_numpy()
    bounds = [0, *np.flatnonzero(units[1:] != units[:-1]) + 1, len(ev)]
    levels = {}
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        best = max((chain_level(times[lo:hi], kinds[lo:hi], i, len(steps), window)
                    for i in np.flatnonzero(kinds[lo:hi] == 1)), default=0)
        if best:
            levels[units[lo]] = best
    return pd.Series(levels)


def chain_level(times: np.ndarray, kinds: np.ndarray, start: int, n_steps: int,
                window: timedelta) -> int:
    """How far the earliest-next-step chain from event ``start`` gets within the window."""
    level, pos, end = 1, start, times[start] + np.timedelta64(window)
    for k in range(2, n_steps + 1):
        later = np.flatnonzero((kinds[pos + 1:] == k) & (times[pos + 1:] <= end))
        if not len(later):
            break
        level, pos = k, pos + 1 + later[0]
    return level


def counts_from_levels(levels: pd.Series, n_steps: int) -> list[int]:
    return [int((levels >= k).sum()) for k in range(1, n_steps + 1)]


@pytest.fixture
def demo_events(demo_ws: Workspace) -> pd.DataFrame:
    with demo_ws.cursor() as cur:
        return cur.execute("SELECT user_id, session_id, event_time, event_type, device, source "
                           "FROM events").df()


@pytest.mark.parametrize(("per", "steps", "days"), [
    ("session", STEPS, 7.0),
    ("user", STEPS, 7.0),
    ("user", ("search", "cart", "purchase"), 0.5),
])
def test_funnel_counts_match_pandas_on_the_demo(demo_ws, demo_events, per, steps, days):
    found = funnel(demo_ws, steps=steps, per=per, window_days=days)
    expected = counts_from_levels(reference_levels(demo_events, steps, per, timedelta(days=days)),
                                  len(steps))
    assert found.counts == expected
    assert expected[0] > expected[-1] > 0  # the funnel narrows but is not empty
    assert found.conversion()["overall"] == pytest.approx(expected[-1] / expected[0])


def test_breakdowns_sum_to_the_total(demo_ws):
    for by in ("device", "channel", "segment"):
        found = funnel(demo_ws, per="user", by=by)
        assert len(found.groups) >= 2, by
        sums = np.sum([g.counts for g in found.groups], axis=0).tolist()
        assert sums == found.counts, by
    assert found.segment_source == "RFM segments (profiles)"
    never = next(g for g in found.groups if g.value == "Never purchased")
    assert never.counts[0] > 0 and never.counts[-1] == 0  # they have no purchase events at all


def test_mobile_converts_worse_than_desktop_on_the_demo(demo_ws):
    # Planted: mobile cart abandoners carry most of the mobile traffic.
    groups = {g.value: g for g in funnel(demo_ws, by="device").groups}
    assert groups["mobile"].overall < groups["desktop"].overall


def test_segment_breakdown_uses_the_latest_segmentation_run(demo_ws):
    with demo_ws.cursor() as cur:
        cur.execute("INSERT INTO segment_runs (run_id, name, method, created_at) VALUES "
                    "('old', 'old run', 'rules', '2020-01-01'), ('new', 'new run', 'rules', '2021-01-01')")
        cur.execute("INSERT INTO segment_members SELECT 'new', user_id, hash(user_id) % 2, "
                    "CASE WHEN hash(user_id) % 2 = 0 THEN 'even' ELSE 'odd' END, 1.0 "
                    "FROM (SELECT DISTINCT user_id FROM events WHERE source = 'online')")
        cur.execute("INSERT INTO segment_members VALUES ('old', 'u000000', 0, 'stale', 1.0)")
    found = funnel(demo_ws, per="user", by="segment")
    assert found.segment_source == "segmentation run 'new run'"
    assert {g.value for g in found.groups} <= {"even", "odd", "unassigned"}
    assert np.sum([g.counts for g in found.groups], axis=0).tolist() == found.counts


# --- funnel: tiny hand-computed cases -------------------------------------------------------

def test_steps_must_happen_in_order(ws):
    add_events(ws, [("a", 0, "cart", None, "s1"), ("a", 1, "view", None, "s1"),
                    ("a", 2, "purchase", None, "s1"),
                    ("b", 0, "view", None, "s2"), ("b", 0, "cart", None, "s2")])  # same instant
    assert funnel(ws, steps=("view", "cart", "purchase")).counts == [2, 1, 0]


def test_per_user_window_counts_from_any_first_step(ws):
    day = 24 * 60
    add_events(ws, [("a", 0, "view", None, "s1"), ("a", 10 * day, "cart", None, "s2"),
                    ("b", 0, "view", None, "s3"), ("b", 9 * day, "view", None, "s4"),
                    ("b", 10 * day, "cart", None, "s5")])
    assert funnel(ws, steps=("view", "cart"), per="user", window_days=7).counts == [2, 1]
    assert funnel(ws, steps=("view", "cart"), per="user", window_days=11).counts == [2, 2]
    assert funnel(ws, steps=("view", "cart"), per="session").counts == [3, 0]


def test_time_to_convert_uses_the_latest_previous_step(ws):
    add_events(ws, [("a", 0, "view", None, "s1"), ("a", 1, "view", None, "s1"),
                    ("a", 3, "cart", None, "s1"), ("a", 7, "checkout", None, "s1"),
                    ("b", 0, "view", None, "s2"), ("b", 5, "cart", None, "s2"),
                    ("b", 6, "checkout", None, "s2")])
    view, cart, checkout = funnel(ws, steps=("view", "cart", "checkout")).total.steps
    assert view.median_seconds_from_previous is None
    assert cart.median_seconds_from_previous == pytest.approx((120 + 300) / 2)
    assert checkout.median_seconds_from_previous == pytest.approx((240 + 60) / 2)
    assert checkout.median_seconds_from_start == pytest.approx((360 + 360) / 2)
    assert (cart.from_previous, checkout.from_start) == (1.0, 1.0)


def test_funnel_result_is_json_serialisable(ws):
    add_events(ws, [("a", 0, "view", None, "s1"), ("a", 1, "purchase", None, "s1")])
    result = funnel(ws, steps=("view", "purchase"), by="device").as_json()
    again = json.loads(json.dumps(result))
    assert again["counts"] == [1, 1] and again["breakdown"]["mobile"]["counts"] == [1, 1]
    assert again["conversion"]["from_start"] == [1.0, 1.0]
    assert funnel(ws, steps=("view", "purchase")).groups == ()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"steps": ("view",)}, "at least two steps"),
    ({"steps": ()}, "at least two steps"),
    ({"steps": ("view", "teleport")}, "Unknown funnel step"),
    ({"steps": ("view", "cart", "view")}, "repeated: view"),
    ({"window_days": 0}, "not positive"),
    ({"window_days": -3}, "not positive"),
    ({"per": "household"}, "per='household'"),
    ({"by": "weather"}, "by='weather'"),
])
def test_bad_funnel_input_is_a_clear_error(ws, kwargs, match):
    add_events(ws, [("a", 0, "view", None, "s1")])
    with pytest.raises(ConfigError, match=match) as err:
        funnel(ws, **kwargs)
    assert err.value.hint


def test_empty_workspace_and_missing_segments_are_clear_errors(ws):
    for call in (lambda: funnel(ws), lambda: paths(ws), lambda: sankey(ws)):
        with pytest.raises(NotFoundError, match="no events"):
            call()
    add_events(ws, [("a", 0, "view", None, "s1"), ("a", 1, "cart", None, "s1")])
    with pytest.raises(NotFoundError, match="no segments") as err:
        funnel(ws, by="segment")
    assert "profiles" in err.value.hint


def test_an_event_type_only_this_workspace_has_is_a_valid_step(ws):
    add_events(ws, [("a", 0, "view", None, "s1"), ("a", 1, "newsletter_signup", None, "s1")])
    assert funnel(ws, steps=("view", "newsletter_signup")).counts == [1, 1]


# --- paths and Sankey: tiny hand-computed cases ---------------------------------------------

PATH_EVENTS = [
    # s1: repeats collapse, the purchase ends the path (the later view is not part of it)
    ("a", 0, "view", "shirts", "s1"), ("a", 1, "view", "shirts", "s1"), ("a", 2, "cart", "shirts", "s1"),
    ("a", 3, "view", "accessories", "s1"), ("a", 4, "purchase", "accessories", "s1"),
    ("a", 5, "view", "shoes", "s1"),
    # s2, s3: cart without purchase = abandonment; only consecutive repeats collapse
    ("b", 0, "view", "shirts", "s2"), ("b", 1, "cart", "shirts", "s2"),
    ("c", 0, "view", "shirts", "s3"), ("c", 1, "cart", "shirts", "s3"),
    ("c", 2, "view", "shirts", "s3"), ("c", 3, "cart", "shirts", "s3"),
    # s4 browses only; a store purchase is not a visit
    ("d", 0, "view", "books", "s4"), ("d", 9, "purchase", "books", None, "offline", None),
]


def test_paths_to_purchase_and_abandonment(ws):
    add_events(ws, PATH_EVENTS)
    found = paths(ws, detail="category")
    assert [(r.path, r.sessions, r.share) for r in found.top("purchase")] == [
        ("view shirts > cart > view accessories > purchase", 1, 1.0)]
    assert [(r.path, r.sessions, r.share) for r in found.top("abandonment")] == [
        ("view shirts > cart", 1, 0.5), ("view shirts > cart > view shirts > cart", 1, 0.5)]
    assert found.totals == {"purchase": {ALL: 1}, "abandonment": {ALL: 2}}
    assert json.loads(json.dumps(found.as_json()))["paths"][0]["group"] == ALL


def test_paths_by_event_type_capped_from_the_end(ws):
    add_events(ws, PATH_EVENTS)
    found = paths(ws, detail="event", max_length=3)
    assert [r.path for r in found.top("purchase")] == ["… > cart > view > purchase"]
    assert {r.path for r in found.top("abandonment")} == {"view > cart", "… > cart > view > cart"}
    assert len(paths(ws, top=1).top("abandonment")) == 1


def test_paths_per_segment_add_up_to_all(demo_ws):
    overall = paths(demo_ws, top=3)
    per_segment = paths(demo_ws, top=3, by="segment")
    for outcome in ("purchase", "abandonment"):
        assert sum(per_segment.totals[outcome].values()) == overall.totals[outcome][ALL]
    assert len(per_segment.groups()) >= 5
    assert all(r.path.endswith("purchase") for r in overall.top("purchase"))
    assert all("cart" in r.path and "purchase" not in r.path for r in overall.top("abandonment"))


def test_path_totals_match_pandas_on_the_demo(demo_ws, demo_events):
    online = demo_events[demo_events["source"] != "offline"]
    visits = online.groupby(["user_id", "session_id"])["event_type"].agg(set)
    bought = visits.map(lambda types: "purchase" in types)
    carted = visits.map(lambda types: "cart" in types)
    totals = paths(demo_ws, top=1).totals
    assert totals["purchase"][ALL] == int(bought.sum())
    assert totals["abandonment"][ALL] == int((carted & ~bought).sum())


SANKEY_EVENTS = [
    *[(f"p{i}", m, t, None, f"p{i}") for i in range(3)
      for m, t in ((0, "view"), (1, "cart"), (2, "purchase"))],
    *[(f"q{i}", m, t, None, f"q{i}") for i in range(2) for m, t in ((0, "view"), (1, "search"))],
    ("w", 0, "wishlist", None, "w"), ("w", 1, "cart", None, "w"),
    ("x", 0, "search", None, "x"), ("x", 1, "view", None, "x"),
]


def flows(result) -> set[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    name = [f"{n.step}.{n.label}" for n in result.nodes]
    return {(name[k.source], name[k.target], k.sessions) for k in result.links}


def test_sankey_folds_rare_nodes_into_other(ws):
    add_events(ws, SANKEY_EVENTS)
    folded = sankey(ws, min_share=0.2)  # 7 visits: nodes seen in fewer than 1.4 fold
    assert folded.sessions == 7
    assert {(n.step, n.label, n.sessions) for n in folded.nodes} == {
        (1, "view", 5), (1, OTHER, 2), (2, "cart", 4), (2, "search", 2), (2, OTHER, 1),
        (3, "purchase", 3)}
    assert flows(folded) == {("1.view", "2.cart", 3), ("1.view", "2.search", 2),
                             ("1.other", "2.cart", 1), ("1.other", "2.other", 1),
                             ("2.cart", "3.purchase", 3)}
    kept = sankey(ws, min_share=0.0, max_steps=2, outcome="purchase")
    assert flows(kept) == {("1.view", "2.cart", 3)} and kept.sessions == 3
    assert json.loads(json.dumps(kept.as_json()))["links"][0]["sessions"] == 3
    x, y = folded.positions()  # one column per step; within a step, bigger nodes on top
    assert [round(v, 3) for v in x] == [0.001, 0.001, 0.5, 0.5, 0.5, 0.999]
    assert y[0] < y[1] and y[2] < y[3] < y[4] and min(y) > 0 and max(y) < 1


@pytest.mark.parametrize(("call", "match"), [
    (lambda ws: paths(ws, detail="pixels"), "detail='pixels'"),
    (lambda ws: paths(ws, max_length=0), "max_length=0"),
    (lambda ws: paths(ws, by="device"), "by='device'"),
    (lambda ws: sankey(ws, max_steps=1), "at least 2 steps"),
    (lambda ws: sankey(ws, min_share=1.5), "between 0 and 1"),
    (lambda ws: sankey(ws, outcome="refund"), "outcome='refund'"),
])
def test_bad_path_input_is_a_clear_error(ws, call, match):
    add_events(ws, [("a", 0, "view", None, "s1")])
    with pytest.raises(ConfigError, match=match):
        call(ws)


# --- CLI ------------------------------------------------------------------------------------

def test_cli_prints_funnel_and_paths_json_and_writes_csv(demo_ws, tmp_path, capsys):
    demo_ws.close()  # one process per DuckDB file: the CLI opens it itself
    out = tmp_path / "funnel.csv"
    code = main(["journeys", "--db", str(demo_ws.path), "--per", "user", "--by", "device",
                 "--out", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps"] == list(STEPS) and len(result["counts"]) == 4
    assert result["conversion"]["overall"] == pytest.approx(result["counts"][-1] / result["counts"][0])
    assert result["paths"]["purchase"][0]["path"].endswith("purchase")
    assert set(result["breakdown"]) == {"desktop", "mobile", "tablet"}
    assert pd.read_csv(out)["group"].iloc[0] == "all"
    assert main(["journeys", "--db", str(demo_ws.path), "--steps", "view"]) == 2
    assert "at least two steps" in capsys.readouterr().err
