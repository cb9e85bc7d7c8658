"""What every page shares: the workspace resource, error display, cached readers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import streamlit as st

from analytics.bundle import DEMO_DIR
from analytics.errors import ShopperLensError
from analytics.overview import Overview, overview
from analytics.workspace import Workspace, default_path

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _open_workspace(path: str) -> Workspace:
    # Besides its own folder, the dashboard may read only the demo shop shipped with it.
    return Workspace(Path(path), allow=[DEMO_DIR] if DEMO_DIR.exists() else [])


def workspace() -> Workspace:
    """The workspace of this server (one root connection shared by every session)."""
    with user_errors():
        return _open_workspace(str(default_path().resolve()))
    raise AssertionError("unreachable")


@contextmanager
def user_errors() -> Iterator[None]:
    """Show an expected error as a message box and stop the page (no traceback)."""
    try:
        yield
    except ShopperLensError as e:
        st.error(f"**{e.title}.** {e.message}\n\n{e.hint}".strip(), icon=":material/error:")
        st.stop()


def run(fn: Callable[[], T]) -> T:
    """Call ``fn``, turning an expected error into a message that stops the page."""
    with user_errors():
        return fn()
    raise AssertionError("unreachable")


def data_changed() -> None:
    """Forget cached read results after the workspace changed."""
    st.cache_data.clear()


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def cached_overview(path: str) -> Overview:
    return overview(workspace())


def sidebar() -> None:
    ws = workspace()
    info = cached_overview(str(ws.path))
    with st.sidebar:
        st.caption("Workspace")
        st.code(str(ws.path), language=None)
        st.caption(f"{info.events:,} events · {info.users:,} shoppers · {info.datasets} datasets")
