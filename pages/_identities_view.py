"""The Identities tab of the Data page: probabilistic links between store and online shoppers.

A thin renderer over analytics.identity: coverage, a "Find links" run with progress, the
review list (masked ids, probability, evidence in words and as a waterfall), accept / reject
one or in bulk, and unlink.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from analytics.identity import (
    DEFAULT_THRESHOLD,
    accept,
    candidates,
    coverage,
    decide_pending,
    find_links,
    reject,
    unlink,
)
from analytics.identity.links import REVIEW_FLOOR, LinkReport, applied_links, evidence_words
from analytics.identity.model import LABELS
from analytics.workspace import Workspace
from pages._shared import data_changed, escape_markdown, run

COMPARED = ("Compared, on hashed values only: e-mail, phone and app device; where they live "
            "(same postcode, else city, else home store, else country: one comparison, since a "
            "store and a country follow from a postcode); names by their hash and their Soundex "
            "code's hash (raw names are never stored) — all salted SHA-256, never shown — plus "
            "birth year (one year apart counts), gender, the category mix of purchases and "
            "whether both were active in the same period. Ids are shown shortened.")


def _coverage(ws: Workspace) -> None:
    cov = coverage(ws)
    total = max(cov["store_ids"], 1)
    det, prob = cov["deterministic"], cov["probabilistic"]
    cols = st.columns(4)
    cols[0].metric("In-store identities", f"{cov['store_ids']:,}")
    cols[1].metric("Linked by identity files", f"{det / total:.1%}", help=f"{det:,} ids")
    cols[2].metric("+ probabilistic links", f"{(det + prob) / total:.1%}",
                   delta=f"+{prob:,} ids", help="Share of in-store ids linked either way")
    cols[3].metric("Waiting for review", f"{cov['pending']:,}")
    st.caption("In-store ids include card holders who never shop online; they have nothing to "
               "link, so the share stays below 100%.")


def _find(ws: Workspace) -> None:
    with st.form("find_links"):
        threshold = st.slider("Apply links at or above this match probability", 0.55, 1.0,
                              DEFAULT_THRESHOLD, 0.01, key="link_threshold")
        go_find = st.form_submit_button("Find links", type="primary")
    if go_find:
        bar = st.progress(0.0, "Starting")
        report = run(lambda: find_links(ws, threshold, apply=True,
                                        progress=lambda f, t: bar.progress(min(f, 1.0), text=t)))
        bar.empty()
        st.session_state["link_report"] = report
        data_changed()
    report = st.session_state.get("link_report")
    if isinstance(report, LinkReport):
        estimate = (f" Estimated precision of the applied links: {report.precision_estimate:.1%} "
                    f"(the model's own mean probability says {report.model_precision:.1%}; the "
                    f"estimate rests on {report.precision_basis})."
                    if report.precision_estimate is not None else
                    f" Precision {report.precision_basis}." if report.precision_basis else "")
        st.success(f"Applied {report.applied:,} links at ≥ {report.threshold:.2f}; "
                   f"{report.review:,} pairs between {REVIEW_FLOOR} and {report.threshold:.2f} "
                   f"wait for review. {report.blocked_pairs:,} of {report.all_pairs:,} possible "
                   f"pairs were compared ({report.seconds:.0f} s).{estimate} Profiles, segments "
                   "and recommendations built before are now out of date.",
                   icon=":material/link:")


def _waterfall(evidence: list[dict[str, object]]) -> go.Figure:
    names = [LABELS.get(str(e["comparison"]), str(e["comparison"])) for e in evidence]
    weights = [float(str(e["weight"])) for e in evidence]
    figure = go.Figure(go.Waterfall(
        orientation="v", x=[*names, "match weight"], y=[*weights, 0.0],
        measure=["relative"] * len(weights) + ["total"],
        text=[f"{w:+.1f}" for w in weights] + [f"{sum(weights):+.1f}"]))
    figure.update_layout(height=320, margin={"t": 10, "b": 10}, yaxis_title="log2 odds",
                         showlegend=False)
    return figure


def _review(ws: Workspace) -> None:
    st.subheader("Review")
    pending = candidates(ws, "pending")
    if pending.empty:
        st.info("No pairs wait for review. Run “Find links” to look for more.")
        return
    table = pending.assign(evidence=[evidence_words(e) for e in pending["evidence"]])
    st.dataframe(table[["pair", "probability", "evidence"]], hide_index=True,
                 column_config={"probability": st.column_config.NumberColumn(format="%.3f")})
    labels = list(table["pair"])
    chosen = st.selectbox("Pair", range(len(labels)), format_func=lambda i: labels[i],
                          key="review_pair")
    row = pending.iloc[int(chosen or 0)]
    st.caption(f"Match probability {row['probability']:.3f}: each bar is one comparison's "
               "weight log2(m/u); they add up to the match weight.")
    st.plotly_chart(_waterfall(row["evidence"]), key="review_waterfall")
    left, right = st.columns(2)
    if left.button("Accept this pair", key="accept_pair"):
        run(lambda: accept(ws, row["alias"], row["user_id"]))
        data_changed()
        st.rerun()
    if right.button("Reject this pair", key="reject_pair"):
        run(lambda: reject(ws, row["alias"], row["user_id"]))
        data_changed()
        st.rerun()
    cut = st.slider("Bulk decision at", REVIEW_FLOOR, 1.0, 0.8, 0.01, key="bulk_cut")
    b1, b2 = st.columns(2)
    if b1.button(f"Accept all pending ≥ {cut:.2f}", key="bulk_accept"):
        n = run(lambda: decide_pending(ws, "accept", cut))
        st.session_state["bulk_done"] = f"Accepted {n:,} pairs."
        data_changed()
        st.rerun()
    if b2.button(f"Reject all pending < {cut:.2f}", key="bulk_reject"):
        n = run(lambda: decide_pending(ws, "reject", 0.0, cut - 1e-9))
        st.session_state["bulk_done"] = f"Rejected {n:,} pairs."
        data_changed()
        st.rerun()


def _applied(ws: Workspace) -> None:
    st.subheader("Applied probabilistic links")
    links = applied_links(ws)
    if links.empty:
        st.caption("None yet.")
        return
    st.dataframe(links[["pair", "probability", "status"]], hide_index=True,
                 column_config={"probability": st.column_config.NumberColumn(format="%.3f")})
    labels = list(links["pair"])
    chosen = st.selectbox("Link", range(len(labels)), format_func=lambda i: labels[i],
                          key="unlink_pair")
    if st.button("Unlink", key="unlink_button"):
        alias = links.iloc[int(chosen or 0)]["alias"]
        result = run(lambda: unlink(ws, alias))
        st.session_state["bulk_done"] = (f"Unlinked {escape_markdown(labels[int(chosen or 0)])}; "
                                         f"{result['events_moved']:,} events moved back.")
        data_changed()
        st.rerun()


def render(ws: Workspace) -> None:
    """The whole tab."""
    st.caption(COMPARED)
    _coverage(ws)
    _find(ws)
    done = st.session_state.pop("bulk_done", None)
    if done:
        st.success(done)
    _review(ws)
    _applied(ws)
