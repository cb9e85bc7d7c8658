"""Probabilistic identity linking: store identities joined to online ones with Splink.

See :mod:`analytics.identity.links` (runs, review, unlink), :mod:`.model` (the Splink
model) and :mod:`.features` (what is compared, hashed).
"""

from analytics.identity.links import (
    DEFAULT_THRESHOLD,
    LinkReport,
    accept,
    candidates,
    coverage,
    decide_pending,
    find_links,
    reject,
    unlink,
)

__all__ = ["DEFAULT_THRESHOLD", "LinkReport", "accept", "candidates", "coverage",
           "decide_pending", "find_links", "reject", "unlink"]
