"""The Privacy tab of the Data page: forget a shopper everywhere."""

from __future__ import annotations

import streamlit as st

from analytics.errors import ShopperLensError
from analytics.privacy import forget_user, identity_of
from pages._shared import data_changed, escape_markdown, run, workspace


def forget(user_id: str) -> None:
    """Button callback: runs before the rerun, so it may clear the id box."""
    try:
        st.session_state["forget_result"] = forget_user(workspace(), user_id)
    except ShopperLensError as e:
        st.session_state["forget_result"] = e
    st.session_state["forget_id"] = ""
    data_changed()


def privacy_tab() -> None:
    """Forget a shopper id and its aliases, after a confirmation."""
    ws = workspace()
    st.subheader("Forget a shopper")
    st.caption("Deletes a shopper id and every alias linked to it (identity files, in-store ids) "
               "from every table and result (events, CRM rows, profiles, segment members, uplift "
               "scores, rejected rows) and the uploaded file copies that mention them.")
    who = st.text_input("Shopper id or alias", key="forget_id").strip()
    if who:
        ids = run(lambda: identity_of(ws, who))
        st.warning("Permanently deletes " + ", ".join(f"**{escape_markdown(i)}**" for i in ids)
                   + ". This cannot be undone.", icon=":material/warning:")
        sure = st.checkbox("I understand, delete this shopper", key="confirm_forget")
        st.button("Forget this shopper", type="primary", disabled=not sure, on_click=forget,
                  args=(who,))
    done = st.session_state.get("forget_result")
    if isinstance(done, ShopperLensError):
        st.error(f"**{done.title}.** {escape_markdown(done.message)} {escape_markdown(done.hint)}")
    elif done:
        st.success(f"Forgot {', '.join(escape_markdown(i) for i in done.ids)}: {done.total:,} rows "
                   f"and {len(done.files_removed)} uploaded file(s) deleted.", icon=":material/delete:")
        st.dataframe({"table": list(done.deleted), "rows deleted": list(done.deleted.values())},
                     hide_index=True)
        for note in done.notes:
            st.caption(note)
