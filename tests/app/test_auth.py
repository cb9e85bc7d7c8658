"""The login gate in AppTest: nothing of the workspace shows before sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.auth import hash_password
from analytics.ingest import ingest_file
from analytics.workspace import Workspace
from tests.app.conftest import no_exceptions

PASSWORD = "let me in, please"
SECRET_ID = "zz-secret-shopper-42"
EVENTS = ("user_id,event_time,event_type,item_id,price\n"
          f"{SECRET_ID},2024-05-01 10:00:00,view,i1,10\n"
          f"{SECRET_ID},2024-05-01 10:05:00,purchase,i1,10\n"
          "u2,2024-05-02 11:00:00,view,i2,5\n")
OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 40,
        "client_id": "shopper-lens", "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}


@pytest.fixture
def loaded(app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app over a workspace holding 3 events of a recognisable shopper."""
    import os
    source = tmp_path / "events.csv"
    source.write_text(EVENTS)
    with Workspace(Path(os.environ["SHOPPER_LENS_DB"]), allow=[tmp_path]) as ws:
        ingest_file(ws, source)
    return app


def _texts(at: AppTest) -> str:
    """Everything the run rendered, as one string (values, labels, protos)."""
    out = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        out.append(str(getattr(node, "proto", "")))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)
    return "\n".join(out)


def _login_only(at: AppTest) -> None:
    no_exceptions(at)
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.metric and not at.dataframe and not at.tabs
    rendered = _texts(at)
    assert SECRET_ID not in rendered and "events ·" not in rendered and "Workspace" not in rendered


def test_password_gate_shows_nothing_before_login(loaded: AppTest):
    loaded.secrets["auth"] = {"password_hash": hash_password(PASSWORD, iterations=10_000)}
    at = loaded.run()
    _login_only(at)
    at.switch_page("pages/data.py").run()  # asking for a page directly changes nothing
    _login_only(at)

    at.text_input[0].input("wrong password")
    at.button[0].click().run()
    _login_only(at)
    assert [e.value for e in at.error] == ["Wrong password."]

    at.text_input[0].input(PASSWORD)
    at.button[0].click().run()
    at.run()
    no_exceptions(at)
    assert [t.value for t in at.title] == ["Data"] and at.tabs  # the page asked for, now shown
    at.switch_page("pages/home.py").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Events"] == "3" and metrics["Shoppers"] == "2"

    at.switch_page("app.py").run()  # the entry point itself: the gate's sidebar and navigation
    assert "3 events · 2 shoppers" in _texts(at)
    next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    at.run()
    _login_only(at)


def test_without_secrets_the_app_is_open(loaded: AppTest):
    at = loaded.run()
    no_exceptions(at)
    assert {m.label: m.value for m in at.metric}["Events"] == "3"


def test_a_broken_password_hash_locks_the_app_with_a_message(loaded: AppTest):
    loaded.secrets["auth"] = {"password_hash": "not-a-hash"}
    at = loaded.run()
    no_exceptions(at)
    assert "misconfigured" in at.error[0].value and not at.metric
    assert SECRET_ID not in _texts(at)


def test_single_sign_on_asks_for_login_then_shows_the_app(loaded: AppTest):
    loaded.secrets["auth"] = dict(OIDC)
    loaded.user = {"is_logged_in": False}
    at = loaded.run()
    no_exceptions(at)
    assert not at.metric and SECRET_ID not in _texts(at)
    assert [b.label for b in at.button] == ["Log in"] or any("Authlib" in e.value for e in at.error)

    loaded.user = {"is_logged_in": True, "email": "ana@shop.example", "name": "Ana"}
    at = loaded.run()
    no_exceptions(at)
    assert {m.label: m.value for m in at.metric}["Events"] == "3"
    assert any(b.label == "Log out" for b in at.sidebar.button)


def test_single_sign_on_refuses_accounts_outside_the_allow_list(loaded: AppTest):
    loaded.secrets["auth"] = {**OIDC, "allowed_domains": ["shop.example"]}
    loaded.user = {"is_logged_in": True, "email": "mallory@elsewhere.example"}
    at = loaded.run()
    no_exceptions(at)
    assert "may not use this dashboard" in at.error[0].value
    assert not at.metric and SECRET_ID not in _texts(at)


def test_data_page_forgets_a_shopper_after_confirmation(loaded: AppTest):
    at = loaded.run()
    at.switch_page("pages/data.py").run()
    at.text_input(key="forget_id").input(SECRET_ID).run()
    assert any(SECRET_ID in w.value.replace("\\", "") for w in at.warning)
    forget = next(b for b in at.button if b.label == "Forget this shopper")
    assert forget.disabled
    at.checkbox(key="confirm_forget").check().run()
    next(b for b in at.button if b.label == "Forget this shopper").click().run()
    no_exceptions(at)
    assert any("2 rows" in s.value for s in at.success), [s.value for s in at.success]
    assert at.text_input(key="forget_id").value == ""
    at.text_input(key="forget_id").input(SECRET_ID).run()
    at.checkbox(key="confirm_forget").check().run()
    next(b for b in at.button if b.label == "Forget this shopper").click().run()
    assert any("nothing was deleted" in e.value for e in at.error)  # already gone
