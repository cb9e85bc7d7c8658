"""The upload flow's relational part: several files recognised as one export (orders, order
lines, customers, products), the detected join with its match rates, one load, its report."""

from __future__ import annotations

import streamlit as st

from analytics.ingest.relational import (
    Recognition,
    RelationalReport,
    detect_keys,
    files_table,
    keys_table,
    load_relational,
    roles_table,
)
from pages._shared import (
    data_changed,
    escape_markdown,
    run,
    workspace,
)


def relational_form(recognition: Recognition, key: str) -> None:
    """Several files recognised as one export: its files, the detected join, one load."""
    ws = workspace()
    st.success(f"Recognised as one **{escape_markdown(recognition.shape.label)}** "
               f"({len(recognition.files)} files).", icon=":material/hub:")
    st.dataframe(roles_table(recognition), hide_index=True)
    keys = run(lambda: detect_keys(ws, recognition))
    st.markdown("**Detected join** (keys shared by the files, and how many values match)")
    st.dataframe(keys_table(keys), hide_index=True, column_config={
        "match rate": st.column_config.ProgressColumn("match rate", format="percent",
                                                      min_value=0.0, max_value=1.0)})
    label = f"Load all {len(recognition.files)} files"
    if st.button(label, type="primary", key=f"{key}:load"):
        bar = st.progress(0.0, "Starting")
        done = run(lambda: load_relational(
            ws, recognition, progress=lambda f, m: bar.progress(min(f, 1.0), m)))
        st.session_state.setdefault("relational_loaded", {})[key] = done
        data_changed()
        st.rerun()


def show_relational_report(report: RelationalReport) -> None:
    """What a relational load brought, file by file."""
    st.success(f"Loaded the {escape_markdown(report.label)}.", icon=":material/inventory_2:")
    st.dataframe(files_table(report), hide_index=True)
    for note in [*report.notes, *(n for f in report.files for n in f.notes)]:
        st.caption(f":material/info: {escape_markdown(note)}")
