"""What every page shares: the workspace resource, error display, cached readers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import streamlit as st

from analytics import settings, stored
from analytics.bundle import DEMO_DIR
from analytics.errors import ShopperLensError
from analytics.overview import Overview, overview
from analytics.versions import data_version
from analytics.workspace import Workspace, default_path

T = TypeVar("T")
# Markdown (and Streamlit's :material/…: and :color[…] syntax) inside a line: links, images,
# HTML, emphasis, code, maths, emoji codes. CommonMark lets each be escaped with a backslash.
_MARKDOWN_INLINE = re.compile(r"([\\`*_{}\[\]()<>~$:&])")
# What starts a block when it opens a line: list items, headings, numbered lists.
_MARKDOWN_LINE_START = re.compile(r"^([-+#]|\d+(?=[.)]))")


def escape_markdown(text: object) -> str:
    """``text`` (a file, column, segment or user name) shown literally inside Markdown.

    Links, images, emphasis, HTML, emoji codes and line breaks in user data become plain text.
    """
    flat = _MARKDOWN_INLINE.sub(r"\\\1", " ".join(str(text).split()))
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit()
                                    else "\\" + m.group(1), flat)


@st.cache_resource(show_spinner=False)
def _open_workspace(path: str) -> Workspace:
    # Besides its own folder, the dashboard may read only the demo shop shipped with it.
    return Workspace(Path(path), allow=[DEMO_DIR] if DEMO_DIR.exists() else [])


def workspace() -> Workspace:
    """The workspace of this server (one root connection shared by every session)."""
    from pages._auth import require_login  # _auth imports this module

    require_login()
    with user_errors():
        return _open_workspace(str(default_path().resolve()))
    raise AssertionError("unreachable")


@contextmanager
def user_errors() -> Iterator[None]:
    """Show an expected error as a message box and stop the page (no traceback)."""
    try:
        yield
    except ShopperLensError as e:
        # Messages quote file names, column names and ids: user data, so shown literally.
        st.error(f"**{e.title}.** {escape_markdown(e.message)}\n\n{escape_markdown(e.hint)}".strip(),
                 icon=":material/error:")
        st.stop()
    except duckdb.OutOfMemoryException:
        limit = settings.get("SHOPPER_LENS_MEMORY_LIMIT")
        st.error(f"**Out of memory.** This needs more memory than SHOPPER_LENS_MEMORY_LIMIT={limit} "
                 "allows. Raise the setting and restart the dashboard, or work on less data.",
                 icon=":material/memory:")
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
    # h14: counted over all events once per data version, then read back from the workspace
    ws = workspace()
    return stored.load_or_build(ws, "overview", {}, data_version(ws), lambda: overview(ws))


def sidebar() -> None:
    ws = workspace()
    info = cached_overview(str(ws.path))
    with st.sidebar:
        st.caption("Workspace")
        st.code(str(ws.path), language=None)
        st.caption(f"{info.events:,} events · {info.users:,} shoppers · {info.datasets} datasets")
