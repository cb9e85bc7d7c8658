"""The core must be usable with no Streamlit: a notebook, the CLI, a scheduled job."""

from __future__ import annotations

import subprocess
import sys


def test_analytics_never_imports_streamlit():
    code = (
        "import importlib, pkgutil, sys, analytics\n"
        "for m in pkgutil.walk_packages(analytics.__path__, 'analytics.'):\n"
        "    if m.name != 'analytics.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "assert 'streamlit' not in sys.modules, 'analytics imported streamlit'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
