"""A second period for a generated sample shop, in which a known set of shoppers changes.

Everyone keeps their habits: the last ``days`` of each shopper's online and in-store events
are replayed ``days`` later. Two planted groups change, and ``changes.csv`` says who:

* ``lapse``: a share of the loyal high-value shoppers stop buying anywhere (expected to
  become lapsed: no activity for ``days`` days);
* ``start_buying``: a share of the window shoppers start buying, several orders in the last
  three weeks of the period (expected to become recent buyers).

Refreshing a workspace with these files is the known answer for living segments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.errors import ConfigError

LAPSE = "lapse"
START_BUYING = "start_buying"
FILES = {"events": "events.csv.gz", "pos": "pos_purchases.csv.gz", "changes": "changes.csv"}
_COLUMNS = ("user_id", "event_time", "event_type", "item_id", "category", "brand", "price",
            "quantity", "session_id", "order_id", "device", "channel", "country", "search_query")


@dataclass(frozen=True)
class FollowupSummary:
    out_dir: Path
    events: int
    pos_rows: int
    lapse: int
    start_buying: int


def generate_followup(bundle: Path, out_dir: Path, days: int = 60, share: float = 0.3,
                      seed: int = 0) -> FollowupSummary:
    """Write the next ``days`` of the shop in ``bundle`` (a folder made by analytics.sample)."""
    if not 7 <= days <= 180 or not 0 < share <= 1:
        raise ConfigError(f"days={days}, share={share}: days must be 7-180 and share in (0, 1].",
                          hint="The defaults (60 days, 0.3) give clear movements.",
                          title="Invalid follow-up")
    truth = pd.read_csv(bundle / "truth_users.csv.gz", dtype=str)
    end = pd.Timestamp(json.loads((bundle / "truth.json").read_text())["period"]["end"])
    rng = np.random.default_rng(seed)
    lapse = _pick(rng, truth, "loyal_high_value", share)
    buyers = _pick(rng, truth, "window_shoppers", share)
    silent_loyalty = set(truth.loc[truth["user_id"].isin(lapse), "offline_loyalty_id"].dropna())
    history = _read(bundle / "events.csv.gz")
    online = _replay(history, end, days, drop=lapse)
    online = pd.concat([online, _purchases(rng, history, buyers, end + pd.Timedelta(days=days))])
    store = _replay(_read(bundle / "pos_purchases.csv.gz"), end, days, drop=silent_loyalty)
    out_dir.mkdir(parents=True, exist_ok=True)
    online.sort_values(["event_time", "user_id"]).to_csv(out_dir / FILES["events"], index=False)
    store.sort_values(["event_time", "user_id"]).to_csv(out_dir / FILES["pos"], index=False)
    changes = pd.DataFrame({"user_id": sorted(lapse) + sorted(buyers),
                            "change": [LAPSE] * len(lapse) + [START_BUYING] * len(buyers)})
    changes.to_csv(out_dir / FILES["changes"], index=False)
    return FollowupSummary(out_dir, len(online), len(store), len(lapse), len(buyers))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, parse_dates=["event_time"])


def _pick(rng: np.random.Generator, truth: pd.DataFrame, segment: str, share: float) -> set[str]:
    users = truth.loc[truth["segment"] == segment, "user_id"].to_numpy()
    return set(rng.choice(users, size=max(1, int(len(users) * share)), replace=False).tolist())


def _replay(events: pd.DataFrame, end: pd.Timestamp, days: int, drop: set[str]) -> pd.DataFrame:
    """Each shopper's last ``days`` of events, ``days`` later, with fresh visit and order ids."""
    shift = pd.Timedelta(days=days)
    recent = events[(events["event_time"] > end - shift) & ~events["user_id"].isin(drop)].copy()
    recent["event_time"] = recent["event_time"] + shift
    for column in ("session_id", "order_id"):
        recent[column] = recent[column].where(recent[column] == "", "f-" + recent[column])
    return recent


def _purchases(rng: np.random.Generator, history: pd.DataFrame, buyers: set[str],
               period_end: pd.Timestamp) -> pd.DataFrame:
    """Two to four orders per new buyer, of items they once viewed, in the last three weeks."""
    viewed = history[history["user_id"].isin(buyers) & (history["event_type"] == "view")]
    rows = []
    for user in sorted(buyers):
        items = viewed[viewed["user_id"] == user]
        if items.empty:
            continue
        device = items["device"].mode().iloc[0]
        for n in range(int(rng.integers(2, 5))):
            item = items.iloc[int(rng.integers(len(items)))]
            start = period_end - pd.Timedelta(seconds=int(rng.integers(3_600, 21 * 86_400)))
            session, order = f"fb-{user}-{n}", f"fbo-{user}-{n}"
            for step, kind in enumerate(("view", "cart", "checkout", "purchase")):
                rows.append({**{c: "" for c in _COLUMNS}, "user_id": user, "event_type": kind,
                             "event_time": start + pd.Timedelta(seconds=40 * step),
                             "item_id": item["item_id"], "category": item["category"],
                             "brand": item["brand"], "price": item["price"], "session_id": session,
                             "device": device, "channel": item["channel"], "country": item["country"],
                             "quantity": "1" if kind == "purchase" else "",
                             "order_id": order if kind == "purchase" else ""})
    return pd.DataFrame(rows, columns=list(_COLUMNS))
