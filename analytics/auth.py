"""Who may open the dashboard: password hashes and the choice of login method.

The dashboard reads an ``[auth]`` section from Streamlit's ``.streamlit/secrets.toml``:
OpenID Connect keys (``client_id``, ``client_secret``, ``server_metadata_url``, at the top
level or in a named provider table) turn on single sign-on through ``st.login``; otherwise a
``password_hash`` turns on a shared-password gate; otherwise the dashboard is open. Hashes are
PBKDF2-HMAC-SHA256 with a random salt, stored as ``pbkdf2_sha256$iterations$salt$hash``
(hex), and checked in constant time. This module knows nothing of Streamlit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analytics.errors import ConfigError

SCHEME = "pbkdf2_sha256"
#: OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 1_000
SALT_BYTES = 16
OIDC_KEYS = ("client_id", "client_secret", "server_metadata_url")
_HINT = "Run `shopper-lens hash-password` and paste the line it prints into the [auth] section."


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS,
                  salt: bytes | None = None) -> str:
    """The ``pbkdf2_sha256$iterations$salt_hex$hash_hex`` line for ``password``.

    Examples
    --------
    >>> stored = hash_password("s3cret", iterations=1_000)
    >>> verify_password("s3cret", stored), verify_password("guess", stored)
    (True, False)
    """
    if not password or "\x00" in password:
        raise ConfigError("The password is empty or holds a NUL character.", hint="Type another.",
                          title="Invalid password")
    if iterations < MIN_ITERATIONS:
        raise ConfigError(f"{iterations:,} PBKDF2 iterations are too few (at least "
                          f"{MIN_ITERATIONS:,}).", hint=f"Use the default, {DEFAULT_ITERATIONS:,}.")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


@dataclass(frozen=True)
class StoredHash:
    """A parsed password hash line."""

    iterations: int
    salt: bytes
    digest: bytes


def parse_hash(stored: str) -> StoredHash:
    """Split a stored hash line; a malformed line raises ConfigError (it is the admin's to fix)."""
    parts = str(stored).strip().split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        raise ConfigError(
            f"[auth] password_hash in .streamlit/secrets.toml is not a {SCHEME} hash "
            f"(expected {SCHEME}$ITERATIONS$SALT_HEX$HASH_HEX; plain SHA-256 is refused: unsalted "
            "hashes are cracked in seconds).", hint=_HINT)
    try:
        iterations, salt, digest = int(parts[1]), bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
    except ValueError as e:
        raise ConfigError("[auth] password_hash in .streamlit/secrets.toml has a non-numeric "
                          "iteration count or non-hex salt/hash.", hint=_HINT) from e
    if iterations < MIN_ITERATIONS or len(salt) < 8 or len(digest) != 32:
        raise ConfigError("[auth] password_hash in .streamlit/secrets.toml is too weak or "
                          f"truncated (at least {MIN_ITERATIONS:,} iterations, an 8-byte salt "
                          "and a 32-byte hash).", hint=_HINT)
    return StoredHash(iterations, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``; the comparison takes constant time."""
    parsed = parse_hash(stored)
    if "\x00" in password:  # HMAC pads keys with NULs: "pw" and "pw\x00" would both match
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), parsed.salt,
                                    parsed.iterations)
    return hmac.compare_digest(candidate, parsed.digest)


@dataclass(frozen=True)
class AuthConfig:
    """How the dashboard is protected: ``mode`` is "oidc", "password" or "open"."""

    mode: str
    providers: tuple[str, ...] = ()
    password_hash: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "providers": list(self.providers)}


def auth_config(section: Mapping[str, Any] | None) -> AuthConfig:
    """The login method an ``[auth]`` secrets section asks for.

    OIDC wins over a password when both are configured; a provider is the top level
    (``"default"``) or any sub-table with a ``client_id``.
    """
    section = section or {}
    providers = []
    if any(section.get(k) for k in OIDC_KEYS):
        providers.append("default")
    providers += sorted(name for name, value in section.items()
                        if isinstance(value, Mapping) and value.get("client_id"))
    if providers:
        missing = [k for k in ("redirect_uri", "cookie_secret") if not section.get(k)]
        if missing:
            raise ConfigError(
                f"[auth] in .streamlit/secrets.toml configures single sign-on but lacks "
                f"{' and '.join(missing)}.",
                hint="Add redirect_uri = \"https://YOUR-HOST/oauth2callback\" and a long random "
                "cookie_secret (see the README's Configuration section).")
        return AuthConfig("oidc", tuple(providers))
    stored = section.get("password_hash")
    if stored:
        parse_hash(str(stored))
        return AuthConfig("password", password_hash=str(stored))
    return AuthConfig("open")


def is_allowed(email: str | None, section: Mapping[str, Any] | None) -> bool:
    """Whether a signed-in e-mail may use the dashboard under ``[auth] allowed_emails`` /
    ``allowed_domains`` (both absent: everyone the identity provider signs in)."""
    section = section or {}
    emails = {str(e).strip().lower() for e in section.get("allowed_emails") or ()}
    domains = {str(d).strip().lower().lstrip("@") for d in section.get("allowed_domains") or ()}
    if not emails and not domains:
        return True
    address = (email or "").strip().lower()
    return bool(address) and (address in emails or address.rpartition("@")[2] in domains)
