"""Password hashes, the choice of login method and the OIDC allow-list (analytics/auth.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from analytics.auth import (
    DEFAULT_ITERATIONS,
    auth_config,
    hash_password,
    is_allowed,
    parse_hash,
    verify_password,
)
from analytics.cli import main
from analytics.errors import ConfigError

FAST = 1_000  # iterations for tests; the CLI default is DEFAULT_ITERATIONS


def test_a_hash_verifies_its_password_only():
    stored = hash_password("correct horse", iterations=FAST)
    assert verify_password("correct horse", stored)
    for wrong in ("correct hors", "Correct horse", "correct horse ", "", "correct horse\x00"):
        assert not verify_password(wrong, stored)


def test_the_hash_is_salted_pbkdf2_in_a_documented_format():
    salt = bytes(range(16))
    stored = hash_password("pw", iterations=FAST, salt=salt)
    expected = hashlib.pbkdf2_hmac("sha256", b"pw", salt, FAST).hex()
    assert stored == f"pbkdf2_sha256${FAST}${salt.hex()}${expected}"
    assert hash_password("pw", iterations=FAST) != hash_password("pw", iterations=FAST)  # salted
    assert parse_hash(stored).iterations == FAST


@pytest.mark.parametrize("stored", [
    hashlib.sha256(b"pw").hexdigest(),                       # unsalted sha256: refused
    "pbkdf2_sha256$600000$zz$00",                            # not hex
    "pbkdf2_sha256$10$" + "00" * 16 + "$" + "00" * 32,       # too few iterations
    "pbkdf2_sha256$600000$" + "00" * 16 + "$" + "00" * 8,    # truncated hash
    "md5$1$2$3", "",
])
def test_a_malformed_or_weak_hash_is_a_configuration_error(stored):
    with pytest.raises(ConfigError, match="password_hash") as e:
        verify_password("pw", stored)
    assert "hash-password" in e.value.hint


def test_the_login_method_follows_the_secrets():
    stored = hash_password("pw", iterations=FAST)
    assert auth_config(None).mode == "open"
    assert auth_config({}).mode == "open"
    assert auth_config({"password_hash": stored}).mode == "password"
    oidc = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
            "client_id": "id", "client_secret": "s", "server_metadata_url": "https://idp/.well-known",
            "password_hash": stored}
    assert auth_config(oidc).as_json() == {"mode": "oidc", "providers": ["default"]}
    named = {"redirect_uri": "r", "cookie_secret": "c", "google": {"client_id": "g"},
             "microsoft": {"client_id": "m"}}
    assert auth_config(named).providers == ("google", "microsoft")
    with pytest.raises(ConfigError, match="cookie_secret"):
        auth_config({"redirect_uri": "r", "client_id": "id"})
    with pytest.raises(ConfigError):
        auth_config({"password_hash": "plain-text-password"})


def test_the_sign_on_allow_list():
    assert is_allowed("anyone@example.com", {})
    section = {"allowed_emails": ["Boss@Shop.example"], "allowed_domains": ["@team.example"]}
    assert is_allowed("boss@shop.example", section)
    assert is_allowed("ana@team.example", section)
    assert not is_allowed("ana@evil-team.example", section)
    assert not is_allowed("team.example@evil.example", section)
    assert not is_allowed(None, section)


def test_cli_hash_password_reads_stdin_and_prints_a_verifiable_line(monkeypatch, capsys):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
    assert main(["hash-password", "--iterations", str(FAST), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["password_hash"]
    assert verify_password("s3cret pass", line) and not verify_password("s3cret", line)
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["hash-password", "--iterations", str(FAST)]) == 0
    assert 'password_hash = "pbkdf2_sha256$' in capsys.readouterr().out
    assert DEFAULT_ITERATIONS >= 600_000
