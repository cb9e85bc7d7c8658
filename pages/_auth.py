"""The login gate app.py runs before any page: single sign-on, a shared password, or open.

Configured in ``.streamlit/secrets.toml`` (see analytics/auth.py and the README). Until the
visitor is signed in the gate stops the script, so navigation never runs a page and no
workspace data is read.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from analytics.auth import AuthConfig, auth_config, is_allowed, verify_password
from analytics.errors import ShopperLensError
from pages._shared import escape_markdown

_SIGNED_IN = "_shopper_lens_signed_in"


def _auth_section() -> Mapping[str, Any]:
    """The [auth] secrets; a secrets file that exists but cannot be read locks the app (fail closed)."""
    if st.secrets.load_if_toml_exists():
        return st.secrets.get("auth") or {}
    files = [Path(f).expanduser() for f in st.get_option("secrets.files") or []]
    unreadable = [str(f) for f in files if f.is_file()]
    if unreadable:
        _refuse(f"The secrets file {unreadable[-1]} could not be read, so the dashboard stays locked.",
                "Fix its TOML syntax (see the README's Configuration section) and reload.")
    return {}


def _refuse(message: str, hint: str) -> None:
    st.error(f"**Sign-in is misconfigured.** {escape_markdown(message)}\n\n{escape_markdown(hint)}",
             icon=":material/lock:")
    st.stop()


def _route_through_app() -> None:
    # With a pages/ folder beside app.py, Streamlit (1.67) runs a session's first request for a
    # page URL such as /data as an old-style multipage app: the page file alone, without app.py
    # and its gate. app.py's st.navigation is meant to be the only router, so switch that off
    # for the process (the gate in workspace() covers the run that imports this module).
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this class has no such routing either
        return
    PagesManager.uses_pages_directory = False


_route_through_app()


def _config() -> tuple[AuthConfig, Mapping[str, Any]]:
    section = _auth_section()
    try:
        return auth_config(section), section
    except ShopperLensError as e:
        _refuse(e.message, e.hint)
        raise AssertionError("unreachable") from e


def _stamp(config: AuthConfig) -> str:
    # Remember which hash the visitor matched: a new password in secrets.toml signs everyone out.
    return hashlib.sha256(str(config.password_hash).encode()).hexdigest()


def signed_in() -> bool:
    """Whether this session may see the workspace (always, when no login is configured)."""
    config, section = _config()
    if config.mode == "password":
        return bool(st.session_state.get(_SIGNED_IN) == _stamp(config))
    if config.mode == "oidc":
        email = st.user.get("email")
        return bool(st.user.get("is_logged_in", False)) and is_allowed(
            str(email) if email else None, section)
    return True


def require_login() -> None:
    """Stop the run with the login form unless signed in (pages/_shared.workspace() calls it,
    so no page can read the workspace before sign-in, however it was reached)."""
    if not signed_in():
        gate()


def gate() -> None:
    """Return only for a signed-in visitor (or when no login is configured); else stop the run."""
    config, section = _config()
    if config.mode == "oidc":
        _single_sign_on(config, section)
    elif config.mode == "password":
        _password(config)


def _password(config: AuthConfig) -> None:
    stamp = _stamp(config)
    if st.session_state.get(_SIGNED_IN) == stamp:
        if st.sidebar.button("Log out", icon=":material/logout:", key="auth_logout"):
            del st.session_state[_SIGNED_IN]
            st.rerun()
        return
    st.title("Shopper Lens")
    with st.form("login"):
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if verify_password(password, str(config.password_hash)):
            st.session_state[_SIGNED_IN] = stamp
            st.rerun()
        st.error("Wrong password.", icon=":material/lock:")
    st.stop()


def _single_sign_on(config: AuthConfig, section: Mapping[str, Any]) -> None:
    if st.user.get("is_logged_in", False):
        email = st.user.get("email")
        if not is_allowed(str(email) if email else None, section):
            st.error(f"{escape_markdown(email or 'This account')} may not use this dashboard.",
                     icon=":material/block:")
            if st.button("Log out"):
                st.logout()
            st.stop()
        with st.sidebar:
            st.caption(f"Signed in as {escape_markdown(email or st.user.get('name') or 'you')}")
            if st.button("Log out", icon=":material/logout:", key="auth_logout"):
                st.logout()
        return
    st.title("Shopper Lens")
    if importlib.util.find_spec("authlib") is None:
        _refuse("Single sign-on is configured but Authlib is not installed.",
                'Install it with `pip install "shopper-lens[oidc]"` (or "streamlit[auth]").')
    st.write("Sign in with your organisation's account to continue.")
    for provider in config.providers:
        label = "Log in" if provider == "default" else f"Log in with {provider.title()}"
        if st.button(label, type="primary", key=f"auth_login:{provider}"):
            st.login(None if provider == "default" else provider)
    st.stop()
