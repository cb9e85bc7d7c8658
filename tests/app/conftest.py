"""AppTest fixtures: each test gets its own workspace and empty Streamlit caches."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("SHOPPER_LENS_DB", str(tmp_path / "app" / "shopper_lens.duckdb"))
    monkeypatch.chdir(ROOT)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    st.cache_data.clear()
    st.cache_resource.clear()


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def demo_app(app: AppTest, _demo_db: Path) -> AppTest:
    """The app on a private copy of the loaded demo workspace (profiles built)."""
    target = Path(os.environ["SHOPPER_LENS_DB"])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_demo_db, target)
    return app
