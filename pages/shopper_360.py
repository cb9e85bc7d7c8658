"""Shopper 360: one shopper's profile, segments, recent events, recommendations and uplift."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from analytics import staleness
from analytics.errors import ShopperLensError
from analytics.identity.masking import mask_digest
from analytics.recommend import MODELS, TrainedModels, UserRecommendations, preview
from analytics.recommend.store import PREVIEW_MODELS, ensure_models, stored_models
from analytics.shopper import ShopperView, data_version, key_metrics, resolve_user, search_users, shopper_view
from analytics.versions import model_inputs_version
from analytics.workspace import Workspace
from pages._jobs import background, forget, progress
from pages._shared import (
    blank_missing,
    cached_overview,
    escape_markdown,
    rebuilt_message,
    run,
    segment_run_picker,
    stale_notice,
    workspace,
)

DEFAULT_MODELS = list(PREVIEW_MODELS)
RECENT_CHOICES = [25, 50, 100, 250]
MATCHES = 50
PER_ROW = 3


@st.cache_resource(show_spinner="Reading the stored recommenders…", max_entries=4, ttl=3600)
def trained_models(path: str, models: tuple[str, ...], version: str) -> TrainedModels | None:
    """The models stored for this data version (None: not built yet; never trained here)."""
    return stored_models(workspace(), models, version=version)


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def cached_search(path: str, text: str, version: str) -> list[str]:
    return search_users(workspace(), text, limit=MATCHES)


def lists_for(ws: Workspace, user_id: str, models: list[str], k: int) -> list[UserRecommendations] | None:
    """The lists from the stored models; None while they are built in the background."""
    version = model_inputs_version(ws)
    trained = trained_models(str(ws.path), tuple(models), version)
    if trained is None:
        trained_models.clear()  # do not keep "not built" once the job has stored them
        key = f"recommenders|{ws.path}|{version}|{','.join(sorted(models))}"
        job = background(key, "Training recommenders for the current data",
                         lambda say: ensure_models(ws, models, progress=say))
        if job.error is not None:
            raise job.error
        if not job.done:
            st.caption("Recommenders learn once per data version and are stored in the workspace; "
                       "after this, every shopper's lists appear at once.")
            progress(key)
            return None
        trained = job.result
        forget(key)  # stored in the workspace now; the job need not hold the models
    return preview(ws, user_id, models, k=k, trained=trained)


def show_lists(lists: list[UserRecommendations] | None) -> None:
    """Each model's list side by side, at most three to a row (None: still being built)."""
    if lists is None:
        return
    if lists and not lists[0].known_user:
        st.caption("This shopper has no item interactions: every model falls back to what is "
                   "popular (cold start).")
    for i, result in enumerate(lists):  # side by side, at most three to a row
        if i % PER_ROW == 0:
            columns = st.columns(min(PER_ROW, len(lists) - i))
        with columns[i % PER_ROW]:
            st.markdown(f"**{result.label}**" + (" · cold start" if result.cold_start else ""))
            if not result.rows:
                st.caption("Nothing left to recommend.")
                continue
            table = result.frame()[["rank", "title", "score", "reason"]]
            st.table(table.assign(score=table["score"].map("{:.2f}".format)), hide_index=True)


# table headers in words (the frames keep their field names for the CLI's JSON)
HISTORY_HEADERS = {"run_name": "Segmentation", "method": "Method", "created_at": "Run at",
                   "segment_name": "Segment", "probability": "Probability", "run_id": "Run id",
                   "valid_from": "From", "valid_to": "Until"}

st.title("Shopper 360")
st.caption("Everything about one shopper: profile, segments over time, latest events, what each "
           "recommender would show them and why, and their predicted response to a campaign.")

ws = workspace()
if cached_overview(str(ws.path)).events == 0:
    st.info("No shoppers yet. Load events on the **Data** page (or the demo shop on **Home**), "
            "then come back here to look one up.", icon=":material/info:")
    st.stop()
version = run(lambda: data_version(ws))

# A link like ?user=ID opens that shopper; the last pick survives leaving the page.
wanted = st.query_params.get("user") or st.session_state.get("s360_user", "")
if "s360_search" not in st.session_state:
    st.session_state["s360_search"] = wanted
search_col, pick_col, recent_col = st.columns([2, 2, 1])
text = search_col.text_input("Search by id", key="s360_search",
                             placeholder="Type part of a user id, loyalty card or other alias",
                             help="Case-insensitive; an alias finds the shopper it belongs to. Empty: the "
                             "most active shoppers.")
matches = run(lambda: cached_search(str(ws.path), text.strip(), version))
if not matches:  # nothing contains the text: say so, with look-alike ids
    matches = [run(lambda: resolve_user(ws, text.strip()))]
found = f"{len(matches)}{'+' if len(matches) == MATCHES else ''} matching" if text.strip() \
    else "most active first"
user = pick_col.selectbox(f"Shopper ({found})", matches,
                          index=matches.index(wanted) if wanted in matches else 0)
recent = recent_col.selectbox("Events shown", RECENT_CHOICES, index=1)
st.session_state["s360_user"] = user
st.query_params["user"] = user
view: ShopperView = run(lambda: shopper_view(ws, user, recent=recent))

# -- profile card --------------------------------------------------------------------------
st.subheader(f":material/person: {escape_markdown(str(mask_digest(view.user_id)))}")
facts = [view.shopping_channel, f"{view.events_total:,} events"]
if view.first_seen is not None and view.last_seen is not None:
    facts.append(f"first seen {view.first_seen:%d %b %Y}, last seen {view.last_seen:%d %b %Y}")
if view.aliases:
    facts.append("also known as " + ", ".join(
        f"{a.alias} ({a.alias_type})" if a.alias_type else a.alias for a in view.aliases))
st.caption(escape_markdown(" · ".join(facts)))
if view.profile is None:
    why = ("Profiles have not been built yet." if not view.profiles_built else
           "This shopper has no profile: profiles were built before their first event.")
    st.info(f"{why} Build them on the **Profiles** page to see RFM, engagement and intent.",
            icon=":material/badge:")
else:
    rebuilt_message()
    stale_notice(staleness.PROFILES, key="s360")
    metrics = key_metrics(view.profile)
    for group in dict.fromkeys(m.group for m in metrics):
        row = [m for m in metrics if m.group == group]
        with st.container(border=True):
            st.markdown(f"**{group}**")
            for column, metric in zip(st.columns(len(row)), row, strict=True):
                if group == "Who":  # labels: long words would be cut off in a metric
                    column.markdown(f":gray[{metric.label}]  \n**{escape_markdown(metric.value)}**",
                                    help=metric.help)
                else:
                    column.metric(metric.label, metric.value, help=metric.help)
if view.crm:
    with st.expander("CRM attributes (personal data is stored hashed)"):
        st.json(view.crm)

# -- segments ------------------------------------------------------------------------------
st.subheader("Segments")
picked_run = segment_run_picker("s360:segment_run")
current = view.segment_of(picked_run) if picked_run else view.current_segment
if current is None and picked_run and view.segments:
    st.info("This shopper is not in the chosen segmentation run (they may have no profile in it); "
            "the table below lists the runs that hold them.", icon=":material/bubble_chart:")
elif current is None:
    st.info("This shopper is in no segmentation run yet. Run one on the **Segments** page (or "
            "`shopper-lens segment`) and their segment and its history show here.",
            icon=":material/bubble_chart:")
if view.segments:
    left, right = st.columns([1, 2])
    if current is not None:
        left.caption("Current segment")
        left.markdown(f"#### {escape_markdown(current.segment_name)}")
        sure = f" · probability {current.probability:.0%}" if current.probability is not None else ""
        left.caption(escape_markdown(f"From {current.run_name} ({current.method}, "
                                     f"{current.created_at:%Y-%m-%d %H:%M}){sure}"))
    right.caption(f"Segment history: {len(view.segments)} run(s), newest first")
    right.dataframe(view.history_frame(), hide_index=True, width="stretch", height=200,
                    column_config={**HISTORY_HEADERS, "probability": st.column_config.NumberColumn(
                        "Probability", format="%.2f")})
    if view.spells:
        st.caption("Moves between segments recorded by refreshes (living segments); an empty "
                   "*until* means the shopper is still there.")
        st.dataframe(blank_missing(view.spells_frame()), hide_index=True, width="stretch", height=180,
                     column_config=HISTORY_HEADERS)

# -- recent events -------------------------------------------------------------------------
st.subheader("Recent events")
events = view.recent_events
if events.empty:
    st.info("No events for this shopper: they are known from the CRM or a segment only.",
            icon=":material/timeline:")
else:
    st.caption(escape_markdown(f"Latest {len(events):,} of {view.events_total:,} events · " + ", ".join(
        f"{n:,} {kind}" for kind, n in view.event_counts.items())))
    fig = px.scatter(events, x="event_time", y="event_type", color="event_type",
                     hover_data=["title", "item_id", "category", "price", "device", "channel",
                                 "source"],
                     labels={"event_time": "", "event_type": ""})
    fig.update_traces(marker={"size": 11, "opacity": 0.8})
    fig.update_layout(height=300, margin={"t": 10, "b": 0}, showlegend=False)
    st.plotly_chart(fig, width="stretch")
    with st.expander("Event table"):
        st.dataframe(blank_missing(events), hide_index=True, width="stretch")

# -- recommendations -----------------------------------------------------------------------
st.subheader("Recommendations")
model_col, k_col = st.columns([3, 1])
models = model_col.multiselect("Models", list(MODELS), default=DEFAULT_MODELS,
                               format_func=lambda n: MODELS[n].label,
                               help="\n".join(f"- **{c.label}**: {c.description}"
                                              for c in MODELS.values()))
k = k_col.number_input("Items per model", 1, 30, 8)
if not models:
    st.info("Choose at least one model.", icon=":material/recommend:")
else:
    try:
        lists = lists_for(ws, view.user_id, models, int(k))
    except ShopperLensError as e:
        st.warning(f"**{e.title}.** {escape_markdown(e.message)} {escape_markdown(e.hint)}",
                   icon=":material/recommend:")
    else:
        show_lists(lists)

# -- predicted lifetime value --------------------------------------------------------------
st.subheader("Lifetime value")
if view.lifetime:
    st.markdown("\n".join(f"- {escape_markdown(line)}" for line in view.lifetime))
else:
    st.info("No lifetime-value prediction for this shopper yet: fit it on the **Predictions** page "
            "(or `shopper-lens predict`). Shoppers who never bought get none.",
            icon=":material/trending_up:")

# -- predicted uplift ----------------------------------------------------------------------
st.subheader("Predicted uplift")
uplift = view.uplift
if uplift is None:
    st.info("No predicted uplift for this shopper yet. Run an uplift analysis on the "
            "**Experiments & Uplift** page (or `shopper-lens uplift --experiment NAME`): every "
            "shopper it scores gets a predicted uplift here.", icon=":material/science:")
else:
    if uplift.source.startswith("experiment "):  # a results file does not go stale with the data
        stale_notice(staleness.UPLIFT_RUN, uplift.run_id, key="s360:uplift",
                     hint="Fit the uplift models again on **Experiments & Uplift** to score the "
                     "shoppers on the data now loaded.")
    a, b, c = st.columns(3)
    a.metric("Predicted uplift", f"{uplift.uplift:+.3g}",  # a rate or an amount: 3 digits
             help=f"Predicted change in {escape_markdown(uplift.outcome)} if treated, by the "
             f"{uplift.model} model.")
    b.metric("Percentile", f"{uplift.percentile:.0%}",
             help="Share of scored shoppers with a lower predicted uplift.")
    c.metric("Scored", f"{uplift.created_at:%Y-%m-%d}", help=f"Uplift run {uplift.run_id}.")
    st.write(escape_markdown(uplift.meaning))
