"""Shorten ids and hashed values before they are shown (issue 17: no hashed value in full).

Personal values are stored as salted SHA-256 digests (analytics/ingest/pii.py). A whole
digest on a screen is still a stable key a reader could copy and match elsewhere, so every
place that shows stored attributes or ids (Shopper 360, the Identities tab, ``shopper
--json``) passes them through here: a digest becomes its first and last two characters.
One helper, so a new screen cannot forget a hashed column (a column is recognised by its
value, whatever it is called: ``email``, ``first_name_sounds``, …).
"""

from __future__ import annotations

import json
import re
from typing import Any

# A salted SHA-256 as DuckDB's sha256() writes it: 64 lower-case hex digits.
_DIGEST = re.compile(r"[0-9a-f]{64}")


def mask(identifier: object) -> str:
    """An id shortened for display: enough to tell pairs apart, never a whole hashed value."""
    text = str(identifier)
    return text if len(text) <= 4 else f"{text[:2]}…{text[-2:]}"


def is_digest(value: object) -> bool:
    """Whether ``value`` is a whole SHA-256 digest (a hashed personal value)."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def mask_digest(value: Any) -> Any:
    """A hashed value shortened and labelled (``"3f…9a (hashed)"``); anything else unchanged."""
    return f"{mask(value)} (hashed)" if is_digest(value) else value


def mask_hashed(values: Any) -> Any:
    """``values`` (a dict, list or scalar, nested) with every digest in it shortened."""
    if isinstance(values, dict):
        return {key: mask_hashed(v) for key, v in values.items()}
    if isinstance(values, list | tuple):
        return [mask_hashed(v) for v in values]
    return mask_digest(values)


def mask_json_text(text: Any) -> Any:
    """JSON text (a profile's ``crm_attributes``) with every digest in it shortened; text that
    is not a JSON object is returned as it is, a whole digest shortened."""
    if not isinstance(text, str):
        return text
    try:
        parsed = json.loads(text)
    except ValueError:
        return mask_digest(text)
    return json.dumps(mask_hashed(parsed), ensure_ascii=False) if isinstance(parsed, dict) else text


def mask_profile(profile: dict[str, Any] | None) -> dict[str, Any] | None:
    """A profile row for display: its CRM attributes with hashed values shortened."""
    if profile is None or "crm_attributes" not in profile:
        return profile
    return {**profile, "crm_attributes": mask_json_text(profile["crm_attributes"])}
