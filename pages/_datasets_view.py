"""The Datasets & quality tab of the Data page: what is loaded, its quality checks, deletion."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from analytics.export import to_csv_bytes
from analytics.ingest import delete_dataset
from analytics.overview import datasets
from analytics.quality import all_rejects, stored_quality_report
from pages._shared import blank_missing, data_changed, escape_markdown, run, workspace


def quality_section(dataset_id: str) -> None:
    """Missing values per applicable column, events per type, the kind's checks, rejected rows."""
    ws = workspace()
    report = run(lambda: stored_quality_report(ws, dataset_id))
    left, right = st.columns(2)
    nulls = report.nulls[report.nulls["nulls"] > 0]
    if not nulls.empty:
        left.plotly_chart(px.bar(nulls, x="share", y="column", orientation="h", hover_data=["applies_to"],
                                 title="Missing values, where the column applies", range_x=[0, 1],
                                 labels={"share": "share missing", "column": "",
                                         "applies_to": "counted on"}), width="stretch")
        left.caption("Revenue, price and order id are judged on purchases and refunds only, item "
                     "columns on item events, search text on searches: a view without revenue is normal.")
    if not report.event_types.empty:
        right.plotly_chart(px.bar(report.event_types, x="event_type", y="events",
                                  title="Events per type"), width="stretch")
    if not report.checks.empty:
        st.markdown(f"**Checks on this {escape_markdown(report.kind)} file**")
        st.dataframe(report.checks, hide_index=True, width="stretch",
                     column_config={"share": st.column_config.ProgressColumn(
                         "share", format="percent", min_value=0.0, max_value=1.0)})
    st.markdown(f"**Rejected rows** ({len(report.rejects):,} shown)")
    st.dataframe(report.rejects, hide_index=True, height=200)
    if not report.rejects.empty:
        st.download_button("Download rejected rows (CSV)",
                           to_csv_bytes(run(lambda: all_rejects(ws, dataset_id))),
                           file_name=f"rejects-{dataset_id}.csv", mime="text/csv")


def datasets_tab() -> None:
    """Every loaded dataset, the quality of the chosen one, and its deletion."""
    ws = workspace()
    table = run(lambda: datasets(ws))
    if table.empty:
        st.info("No datasets yet: upload a file in the *Upload* tab.")
    else:
        st.dataframe(blank_missing(table), hide_index=True, width="stretch", column_config={
            "dataset_id": st.column_config.TextColumn("id", width="small"),
            "name": st.column_config.TextColumn("file", width="medium"),
            "rows_read": st.column_config.NumberColumn("rows read", format="localized"),
            "rows_loaded": st.column_config.NumberColumn("loaded", format="localized"),
            "rows_rejected": st.column_config.NumberColumn("rejected", format="localized"),
            "duplicates_skipped": st.column_config.NumberColumn("duplicates", format="localized"),
            "loaded_at": st.column_config.DatetimeColumn("loaded at", format="YYYY-MM-DD HH:mm")})
        labels = {f"{r.name} · {r.kind} · {r.dataset_id}": r.dataset_id for r in table.itertuples()}
        chosen = labels[st.selectbox("Dataset", list(labels), key="quality_dataset")]
        quality_section(chosen)
        confirm = st.checkbox("I want to delete this dataset and every row it brought",
                              key="confirm_delete")
        if st.button("Delete dataset", disabled=not confirm):
            name = run(lambda: delete_dataset(ws, chosen))
            data_changed()
            st.toast(f"Deleted {escape_markdown(name)}")
            st.rerun()
