"""The core must be usable with no Streamlit: a notebook, the CLI, a scheduled job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_analytics_never_imports_streamlit():
    code = (
        "import importlib, pkgutil, sys, analytics\n"
        "for m in pkgutil.walk_packages(analytics.__path__, 'analytics.'):\n"
        "    if m.name != 'analytics.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "assert 'streamlit' not in sys.modules, 'analytics imported streamlit'\n"
    )
    _prints_ok(code)


def test_reading_the_segment_runs_does_not_load_scikit_learn_and_every_export_resolves():
    """The Data page lists segment runs through analytics.segments.primary: that must not pay
    for scikit-learn (the package's names load on first use), and each exported name loads."""
    code = (
        "import sys, analytics.segments.primary\n"
        "assert 'sklearn' not in sys.modules, 'sklearn loaded'\n"
        "import analytics.segments as s\n"
        "missing = [n for n in s.__all__ if getattr(s, n, None) is None]\n"
        "assert not missing and sorted(s.__all__) == sorted(s._HOME_OF), missing\n"
    )
    _prints_ok(code)


def test_the_labels_every_page_shows_do_not_load_scikit_learn_and_every_export_resolves():
    """analytics.labels reads the model catalogue (analytics.recommend.catalogue): that must not
    load the recommenders, scikit-learn or scipy (~1.5 s of the dashboard's first page)."""
    code = (
        "import sys, analytics.labels, analytics.overview, analytics.profiles\n"
        "loaded = sorted({'sklearn', 'scipy', 'analytics.recommend.engine'} & set(sys.modules))\n"
        "assert not loaded, loaded\n"
        "import analytics.recommend as r\n"
        "missing = [n for n in r.__all__ if getattr(r, n, None) is None]\n"
        "assert not missing and sorted(r.__all__) == sorted(r._HOME_OF), missing\n"
    )
    _prints_ok(code)


def test_starting_the_map_warm_up_leaves_scikit_learn_to_the_job_thread():
    """app.py starts the UMAP warm-up on the first page run: the page must not import
    analytics.embedding (and scikit-learn, ~1 s) itself; the job does, in its own thread."""
    code = (
        "import sys, pages._jobs as j\n"
        "started = []\n"
        "class Job:\n"
        "    def __init__(self, what, fn, priority=False):\n"
        "        started.append(fn)\n"
        "j.Job = Job\n"
        "j.map_warm_up()\n"
        "assert started and 'sklearn' not in sys.modules, 'sklearn loaded by the page'\n"
    )
    _prints_ok(code)


def _prints_ok(code: str) -> None:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and expect it to finish."""
    out = subprocess.run([sys.executable, "-c", code + "print('ok')\n"], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_server_preloads_what_the_first_page_imports(demo_ws):
    """serve.py imports before the server listens what the first visitor's first page would
    (about a second of it at 200k shoppers): after preload(), the app's first run of Home on a
    loaded workspace imports no more pandas, plotly, DuckDB or analytics modules. It must not
    import the page helpers, whose Streamlit caches belong to the running server."""
    demo_ws.close()
    code = (
        "import os, sys\n"
        f"os.environ['SHOPPER_LENS_DB'] = {str(demo_ws.path)!r}\n"
        "os.environ['SHOPPER_LENS_MAP_WARMUP'] = 'off'\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import serve\n"
        "serve.preload()\n"
        "assert not [m for m in sys.modules if m.startswith('pages')], 'page helpers preloaded'\n"
        "from streamlit.testing.v1 import AppTest\n"
        "before = set(sys.modules)\n"
        "at = AppTest.from_file(os.path.join(sys.path[0], 'app.py'), default_timeout=120)\n"
        "at.run()\n"
        "assert not at.exception, [e.message for e in at.exception]\n"
        "heavy = ('pandas', 'plotly', 'duckdb', 'analytics', 'numpy', 'sklearn')\n"
        "late = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in heavy)\n"
        "assert not late, late\n"
    )
    _prints_ok(code)
