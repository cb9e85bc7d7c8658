"""What every page shares: the workspace resource, error display, cached readers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb
import pandas as pd
import streamlit as st

from analytics import settings, stored
from analytics.bundle import DEMO_DIR
from analytics.errors import ShopperLensError
from analytics.overview import Overview, overview
from analytics.versions import data_version
from analytics.workspace import Workspace, default_path

if TYPE_CHECKING:
    from analytics.engines.outputs import SparkOutput
    from analytics.segments.primary import RunChoice

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
    # counted over all events once per data version, then read back from the workspace
    ws = workspace()
    return stored.load_or_build(ws, "overview", {}, data_version(ws), lambda: overview(ws))


def sidebar() -> None:
    ws = workspace()
    info = cached_overview(str(ws.path))
    with st.sidebar:
        st.caption("Workspace")
        # a readable name (the folder), the full path on hover instead of a cut-off code box.
        st.markdown(f"**{escape_markdown(workspace_name(ws.path))}**", help=f"`{ws.path}`")
        st.caption(f"{info.events:,} events · {info.users:,} shoppers · {info.datasets} datasets")


# the segmentation a page uses is explicit — the primary run unless the user picks another.
@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def cached_run_choices(path: str) -> list[RunChoice]:
    from analytics.segments.primary import run_choices  # the segments package loads scikit-learn

    return run_choices(workspace())


def segment_run_picker(key: str, label: str = "Segmentation used") -> str | None:
    """A picker of the segmentation run this page uses, defaulting to the workspace's primary.

    Returns None when no segmentation has been run (pages then fall back to RFM segments).
    """
    choices = {c.run_id: c for c in cached_run_choices(str(workspace().path))}
    if not choices:
        st.caption("No segmentation run yet: segments here are the RFM segments of the profiles. "
                   "Run one on the **Segments** page.")
        return None
    picked = st.selectbox(label, list(choices), key=key, format_func=lambda r: choices[r].label,
                          help="The primary segmentation is chosen on the Segments page; pick another "
                          "run here to use it on this page only.")
    if picked is not None:  # a hint, not a button: pickers also sit inside forms
        from analytics.staleness import SEGMENT_RUN

        stale_notice(SEGMENT_RUN, picked, key=key, hint="Rebuild it on the **Segments** page to "
                     "use the data now loaded.")
    return picked


# never stale — a result older than the data says so, with a one-click rebuild.
def stale_notice(kind: str, result_id: str = "", run_id: str | None = None, key: str = "",
                 hint: str | None = None, label: str = "Rebuild now") -> bool:
    """Warn when result ``kind``/``result_id`` was built from older data; offer the rebuild.

    ``run_id`` is the segmentation to re-apply after the profiles (None: profiles only). With
    ``hint`` (results the page itself re-runs, e.g. an evaluation) the hint replaces the button.
    Returns True when the result is stale (the page may still show it, flagged).
    """
    from analytics.staleness import freshness, rebuild

    ws = workspace()
    found = run(lambda: freshness(ws, kind, result_id))
    if not found.stale:
        return False
    if hint:
        st.warning(f"{found.message} {hint}", icon=":material/update:")
        return True
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.warning(found.message, icon=":material/update:")
    if right.button(label, type="primary", icon=":material/refresh:",
                    key=f"rebuild:{key or kind}:{result_id}"):
        with st.status("Rebuilding…", expanded=True) as status:
            bar = st.progress(0.0)
            done = run(lambda: rebuild(ws, run_id, lambda f, t: bar.progress(min(f, 1.0), t)))
            status.update(label=" ".join(done) or "Already up to date.", state="complete")
        data_changed()
        st.session_state["rebuilt"] = " ".join(done)
        st.rerun()
    return True


def spark_output_notice(kind: str, ref: str = "") -> SparkOutput | None:
    """Say in one sentence that a result is a sample of a Spark result kept as Parquet."""
    from analytics.engines.outputs import get

    found = run(lambda: get(workspace(), kind, ref))
    if found is not None:
        st.info(escape_markdown(found.sentence()), icon=":material/folder_zip:")
    return found


def rebuilt_message() -> None:
    """After a rebuild's rerun, say what it did (once)."""
    done = st.session_state.pop("rebuilt", None)
    if done:
        st.success(done, icon=":material/check_circle:")


def workspace_name(path: Path) -> str:
    """A short name for a workspace file: its folder, plus the file name when not the default."""
    default = Path(settings.SETTINGS[0].default).name
    return path.parent.name if path.name == default else f"{path.parent.name}/{path.stem}"


def blank_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns with empty cells instead of "None" (numbers keep their missing markers)."""
    text = [c for c in frame.columns if frame[c].dtype == object]
    return frame.assign(**{c: frame[c].where(frame[c].notna(), "") for c in text}) if text else frame
