"""Find, review, apply and undo probabilistic identity links.

A run scores unlinked store identities against unlinked online ones (:mod:`.model`), keeps
each store id's best pair (one card, one online self: greedy by probability), stores pairs at
or above the review floor in ``identity_candidates`` and, when applying, turns pairs at or
above the threshold into ``identity_links`` rows (status ``auto``). Accepting a pending pair
applies it (``accepted``); rejecting or unlinking removes the link and remembers the
rejection, so a later run does not bring it back. Every change re-points the events through
the identity map in the same transaction; the data version (analytics/versions.py) includes
the links, so profiles, segments and stored models built before are flagged stale.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from analytics.errors import ConfigError, NotFoundError
from analytics.identity.calibration import PrecisionEstimate, held_out_precision
from analytics.identity.features import Sides, identity_frames, known_pairs
from analytics.identity.masking import mask
from analytics.identity.model import LABELS, score
from analytics.ingest.load import relink_identities
from analytics.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_THRESHOLD = 0.95
REVIEW_FLOOR = 0.5
Progress = Callable[[float, str], None]
STATUSES = ("auto", "pending", "accepted", "rejected")


@dataclass(frozen=True)
class LinkReport:
    """What a linking run found (and, with ``applied``, changed)."""

    candidates: int
    applied: int
    review: int
    precision_estimate: float | None
    threshold: float
    store_identities: int
    online_identities: int
    blocked_pairs: int
    all_pairs: int
    seconds: float
    written: bool
    pairs: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: the model's own precision (mean probability of the applied links): optimistic
    model_precision: float | None = None
    precision_basis: str = ""

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("pairs")
        return out


def _check_threshold(threshold: float) -> float:
    if not REVIEW_FLOOR < threshold <= 1.0:
        raise ConfigError(f"The link threshold {threshold} is outside ({REVIEW_FLOOR}, 1].",
                          hint="Use a probability such as 0.95 (pairs between 0.5 and it are "
                               "sent to review).", title="Invalid link threshold")
    return threshold


def _one_to_one(pairs: pd.DataFrame) -> pd.DataFrame:
    """Best pair per store id and per online id (greedy, highest probability first)."""
    used_alias: set[str] = set()
    used_user: set[str] = set()
    keep = []
    for i, row in enumerate(pairs.itertuples(index=False)):
        alias, user = str(row.alias), str(row.user_id)
        if alias not in used_alias and user not in used_user:
            used_alias.add(alias)
            used_user.add(user)
            keep.append(i)
    return pairs.iloc[keep].reset_index(drop=True)


def _excluded(cur: duckdb.DuckDBPyConnection) -> tuple[set[str], set[tuple[str, str]]]:
    """Ids already in an applied link, and pairs a reviewer rejected."""
    linked = {str(v) for row in cur.execute("SELECT alias, user_id FROM identity_links").fetchall()
              for v in row}
    rejected = {(str(a), str(u)) for a, u in cur.execute(
        "SELECT alias, user_id FROM identity_candidates WHERE status = 'rejected'").fetchall()}
    return linked, rejected


def find_links(ws: Workspace, threshold: float = DEFAULT_THRESHOLD, *, apply: bool = False,
               progress: Progress | None = None, engine: str = "duckdb",
               master: str = "local[2]", spark: SparkSession | None = None) -> LinkReport:
    """Score unlinked identities; with ``apply`` store the candidates and apply the sure ones.

    Without ``apply`` nothing is written (a dry run that reports what would change).
    ``engine="spark"`` trains and scores the same Splink settings on Splink's Spark backend,
    in ``spark`` or in a session started on ``master`` (and stopped) for this run; the
    candidates and links are stored exactly as from DuckDB.
    """
    if engine not in ("duckdb", "spark"):
        raise ConfigError(f"Unknown linking engine {engine!r}.", hint="Use duckdb or spark.",
                          title="Invalid engine")
    if engine == "spark" and spark is None:
        from analytics.engines.spark import session

        own = session(master)
        try:
            return find_links(ws, threshold, apply=apply, progress=progress, engine=engine,
                              spark=own)
        finally:
            own.stop()
    threshold = _check_threshold(threshold)
    say = progress or (lambda f, m: None)
    started = time.perf_counter()
    say(0.05, "Reading identities")
    with ws.cursor() as cur:
        sides, deterministic = identity_frames(cur, ws.pii_salt())
        linked, rejected = _excluded(cur)
        known = known_pairs(cur)
    # Only cards that could be linked again: in-store events, and an online self with events.
    store_ids, online_ids = set(sides.store["unique_id"]), set(sides.online["unique_id"])
    known = {a: u for a, u in known.items() if a in store_ids and u in online_ids}
    taken = linked | deterministic
    store = sides.store[~sides.store["unique_id"].isin(taken)].reset_index(drop=True)
    online = sides.online[~sides.online["unique_id"].isin(taken)].reset_index(drop=True)
    if store.empty or online.empty:
        pairs = pd.DataFrame(columns=["alias", "user_id", "probability", "match_weight",
                                      "evidence"])
        blocked = 0
        estimate = PrecisionEstimate(None, None, 0, 0.0, 0.0, 0.0)
    else:
        scored = score(sides, Sides(store, online), say, min_probability=REVIEW_FLOOR,
                       spark=spark if engine == "spark" else None)
        keep = pd.Series([(a, u) not in rejected for a, u in zip(
            scored.pairs["alias"], scored.pairs["user_id"], strict=True)], dtype=bool)
        pairs = _one_to_one(scored.pairs.loc[keep.to_numpy()].reset_index(drop=True))
        blocked = scored.blocked_pairs
        estimate = held_out_precision(scored.every, known, set(online["unique_id"]), threshold,
                                      len(store), int((pairs["probability"] >= threshold).sum()))
    pairs["status"] = ["auto" if p >= threshold else "pending" for p in pairs["probability"]]
    auto = pairs[pairs["status"] == "auto"]
    if apply:
        say(0.9, "Applying links")
        _write(ws, pairs)
    say(1.0, "Done")
    return LinkReport(
        candidates=len(pairs), applied=len(auto), review=int((pairs["status"] == "pending").sum()),
        precision_estimate=estimate.value if len(auto) else None,
        model_precision=round(float(auto["probability"].mean()), 4) if len(auto) else None,
        precision_basis=_basis(estimate, len(auto)),
        threshold=threshold, store_identities=len(store), online_identities=len(online),
        blocked_pairs=blocked, all_pairs=len(store) * len(online),
        seconds=round(time.perf_counter() - started, 2), written=apply,
        pairs=[{str(k): v for k, v in r.items()} for r in pairs.to_dict("records")],
    )


def _basis(estimate: PrecisionEstimate, applied: int) -> str:
    """What the precision estimate rests on, or why there is none."""
    if not applied:
        return ""
    if not estimate.held_out:
        return ("not estimated: no identities file links store cards to online shoppers, so "
                "there is nothing to check the links against (the model's mean probability is "
                "optimistic)")
    return estimate.basis


def _write(ws: Workspace, pairs: pd.DataFrame) -> None:
    run_id = uuid.uuid4().hex[:12]
    rows = [(str(r["alias"]), str(r["user_id"]), float(r["probability"]),
             float(r["match_weight"]), json.dumps(r["evidence"]), str(r["status"]), run_id)
            for r in pairs.to_dict("records")]
    with ws.transaction() as cur:
        cur.execute("DELETE FROM identity_candidates WHERE status = 'pending'")
        if rows:
            cur.executemany("INSERT OR IGNORE INTO identity_candidates (alias, user_id, "
                            "probability, match_weight, evidence, status, run_id) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        cur.execute("""INSERT OR IGNORE INTO identity_links (alias, user_id, probability, status)
                       SELECT alias, user_id, probability, 'auto' FROM identity_candidates
                       WHERE run_id = ? AND status = 'auto'
                         AND alias NOT IN (SELECT alias FROM identities)""", [run_id])
        relink_identities(cur)


def _candidate(cur: duckdb.DuckDBPyConnection, alias: str, user_id: str) -> tuple[Any, ...]:
    rows = cur.execute("SELECT probability, status FROM identity_candidates "
                       "WHERE alias = ? AND user_id = ?", [alias, user_id]).fetchall()
    if not rows:
        raise NotFoundError(f"No candidate pair {mask(alias)} ↔ {mask(user_id)}: nothing changed.",
                            hint="Run “Find links” (or `shopper-lens link --apply`) first.")
    return tuple(rows[0])


def accept(ws: Workspace, alias: str, user_id: str) -> None:
    """Apply a reviewed pair as a probabilistic link (deterministic links still win)."""
    with ws.transaction() as cur:
        probability, _ = _candidate(cur, alias, user_id)
        if cur.execute("SELECT count(*) FROM identities WHERE alias = ?", [alias]).fetchall()[0][0]:
            raise ConfigError(f"{mask(alias)} is linked by an identities file; that link wins.",
                              hint="Nothing changed.", title="Linked deterministically")
        taken = cur.execute("SELECT user_id FROM identity_links WHERE alias = ?",
                            [alias]).fetchall()
        if taken and taken[0][0] != user_id:
            raise ConfigError(f"{mask(alias)} is already linked to {mask(taken[0][0])}.",
                              hint="Unlink it first, then accept this pair.",
                              title="Already linked")
        cur.execute("INSERT OR REPLACE INTO identity_links (alias, user_id, probability, status) "
                    "VALUES (?, ?, ?, 'accepted')", [alias, user_id, probability])
        _set_status(cur, [(alias, user_id)], "accepted")
        relink_identities(cur)


def reject(ws: Workspace, alias: str, user_id: str) -> None:
    """Mark a pair as not the same shopper; undo its link if it was applied."""
    with ws.transaction() as cur:
        _candidate(cur, alias, user_id)
        cur.execute("DELETE FROM identity_links WHERE alias = ? AND user_id = ?", [alias, user_id])
        _set_status(cur, [(alias, user_id)], "rejected")
        relink_identities(cur)


def _set_status(cur: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]], status: str) -> None:
    cur.executemany("UPDATE identity_candidates SET status = ?, decided_at = current_timestamp "
                    "WHERE alias = ? AND user_id = ?", [(status, a, u) for a, u in pairs])


def decide_pending(ws: Workspace, action: str, min_probability: float,
                   max_probability: float = 1.0) -> int:
    """Accept or reject every pending pair with probability in [min, max]; returns how many."""
    if action not in ("accept", "reject"):
        raise ConfigError(f"Unknown review action {action!r}.", hint="Use accept or reject.")
    with ws.cursor() as cur:
        pairs = [(str(a), str(u)) for a, u in cur.execute(
            "SELECT alias, user_id FROM identity_candidates WHERE status = 'pending' "
            "AND probability BETWEEN ? AND ? ORDER BY probability DESC",
            [min_probability, max_probability]).fetchall()]
    done = accept if action == "accept" else reject
    for alias, user_id in pairs:
        done(ws, alias, user_id)
    return len(pairs)


def unlink(ws: Workspace, alias: str) -> dict[str, Any]:
    """Undo the probabilistic link of a store id (or of an online id); events move back."""
    alias = str(alias).strip()
    with ws.transaction() as cur:
        rows = cur.execute("SELECT alias, user_id FROM identity_links WHERE alias = ? OR user_id = ?",
                           [alias, alias]).fetchall()
        if not rows:
            deterministic = cur.execute("SELECT count(*) FROM identities WHERE alias = ? "
                                        "OR user_id = ?", [alias, alias]).fetchall()[0][0]
            hint = ("It is linked by an identities file: delete that dataset (Data page) to undo "
                    "it." if deterministic else "Check the id; `shopper-lens link --json` lists "
                    "applied links.")
            raise NotFoundError(f"No probabilistic link for {alias!r}: nothing changed.", hint=hint)
        pairs = [(str(a), str(u)) for a, u in rows]
        cur.executemany("DELETE FROM identity_links WHERE alias = ? AND user_id = ?", pairs)
        _set_status(cur, pairs, "rejected")
        moved = cur.execute("SELECT count(*) FROM events WHERE list_contains(?, source_user_id)",
                            [[a for a, _ in pairs]]).fetchall()[0][0]
        relink_identities(cur)
    return {"unlinked": [{"alias": a, "user_id": u} for a, u in pairs], "events_moved": int(moved)}


def candidates(ws: Workspace, status: str | None = None) -> pd.DataFrame:
    """Stored candidate pairs (masked ids for display alongside the real ones), best first."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    with ws.cursor() as cur:
        frame = cur.execute(f"SELECT alias, user_id, probability, match_weight, evidence, status "  # noqa: S608
                            f"FROM identity_candidates {where} "
                            f"ORDER BY probability DESC, alias", params).df()
    frame["pair"] = [f"{mask(a)} ↔ {mask(u)}" for a, u in zip(frame["alias"], frame["user_id"],
                                                               strict=True)]
    frame["evidence"] = [json.loads(e) if isinstance(e, str) else e for e in frame["evidence"]]
    return frame


def write_review(path: Path, pairs: list[dict[str, Any]]) -> Path:
    """The grey-zone pairs as a CSV for offline review (evidence in words, no values)."""
    frame = pd.DataFrame({
        "alias": [p["alias"] for p in pairs], "user_id": [p["user_id"] for p in pairs],
        "probability": [round(float(p["probability"]), 4) for p in pairs],
        "evidence": [evidence_words(p["evidence"], top=6) for p in pairs],
    })
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    except OSError as e:
        raise ConfigError(f"Cannot write the review list to {path}: {e.strerror}.",
                          hint="Choose a folder you can write to.", title="Review file not written"
                          ) from e
    return path


def evidence_words(evidence: list[dict[str, Any]], top: int = 4) -> str:
    """The strongest reasons for and against a pair, in words."""
    items = sorted((e for e in evidence if e["comparison"] != "prior" and abs(e["weight"]) >= 0.5),
                   key=lambda e: -abs(e["weight"]))[:top]
    words = [f"{LABELS.get(e['comparison'], e['comparison'])}: {e['label'].lower()} "
             f"({e['weight']:+.1f})" for e in items]
    return "; ".join(words) or "no strong evidence either way"


_COVERAGE_SQL = """
WITH store AS (
    SELECT DISTINCT coalesce(source_user_id, user_id) AS id FROM events
    WHERE source = 'offline' OR lower(coalesce(channel, '')) = 'store')
SELECT count(*) AS store_ids,
       count(*) FILTER (WHERE id IN (SELECT alias FROM identities)) AS deterministic,
       count(*) FILTER (WHERE id IN (SELECT alias FROM identity_links)
                        AND id NOT IN (SELECT alias FROM identities)) AS probabilistic
FROM store"""


def coverage(ws: Workspace) -> dict[str, int]:
    """Store identities, and how many are linked deterministically and probabilistically."""
    with ws.cursor() as cur:
        store_ids, deterministic, probabilistic = cur.execute(_COVERAGE_SQL).fetchall()[0]
        pending = cur.execute("SELECT count(*) FROM identity_candidates "
                              "WHERE status = 'pending'").fetchall()[0][0]
    return {"store_ids": int(store_ids), "deterministic": int(deterministic),
            "probabilistic": int(probabilistic), "pending": int(pending)}


def applied_links(ws: Workspace) -> pd.DataFrame:
    """The applied probabilistic links (alias, user_id, probability, status, pair for display)."""
    with ws.cursor() as cur:
        frame = cur.execute("SELECT alias, user_id, probability, status, linked_at "
                            "FROM identity_links ORDER BY linked_at DESC, alias").df()
    frame["pair"] = [f"{mask(a)} ↔ {mask(u)}" for a, u in zip(frame["alias"], frame["user_id"],
                                                               strict=True)]
    return frame
