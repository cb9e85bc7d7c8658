"""Probabilistic identity linking (analytics/identity): planted recovery, match weights, review,
unlink, deterministic-first, privacy and forget; the `link` / `unlink` commands."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analytics.cli import main
from analytics.errors import ConfigError, NotFoundError
from analytics.identity import accept, candidates, coverage, decide_pending, find_links, unlink
from analytics.identity.links import evidence_words, mask
from analytics.identity.model import _pairs, settings
from analytics.privacy import forget_user
from analytics.versions import data_version
from analytics.workspace import Workspace
from tests.spark_support import needs_spark, spark  # noqa: F401


@pytest.fixture
def shop(identity_shop: Path) -> Path:
    return identity_shop


@pytest.fixture
def linked(identity_linked: tuple[Path, dict[str, Any], Path]) -> tuple[Path, dict[str, Any]]:
    return identity_linked[0], identity_linked[1]


@pytest.fixture
def lws(linked: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the linked workspace."""
    target = tmp_path / "copy" / "shopper_lens.duckdb"
    target.parent.mkdir()
    shutil.copyfile(linked[0], target)
    with Workspace(target, allow=[tmp_path]) as ws:
        yield ws


def _truth(shop: Path) -> pd.DataFrame:
    return pd.read_csv(shop / "identity_truth.csv", dtype=str, keep_default_na=False)


def _links(ws: Workspace) -> pd.DataFrame:
    with ws.cursor() as cur:
        return cur.execute("SELECT alias, user_id, status FROM identity_links").df()


def _scored_links(path: Path, shop: Path) -> tuple[int, int, int]:
    """The applied links, how many of them the planted truth confirms, and the hidden pairs."""
    truth = _truth(shop)
    hidden = truth[(truth["user_id"] != "") & (truth["deterministic"] == "0")]
    answer = dict(zip(hidden["loyalty_id"], hidden["user_id"], strict=True))
    with Workspace(path) as ws:
        links = _links(ws)
    correct = sum(answer.get(a) == u for a, u in zip(links["alias"], links["user_id"], strict=True))
    return len(links), correct, len(answer)


def test_planted_pairs_are_recovered_with_the_stated_precision_and_recall(linked, shop):
    path, report = linked
    applied, correct, hidden = _scored_links(path, shop)
    assert applied == report["applied"] > 0
    precision, recall = correct / applied, correct / hidden
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.8, (precision, recall)
    # Near-linear blocking: a small fraction of all store × online pairs is compared.
    assert report["blocked_pairs"] < 0.02 * report["all_pairs"]


def test_store_only_customers_stay_unlinked(linked, shop):
    """Store-only card holders have no online self: sharing a postcode with a stranger (and
    so his home store and country, one fact not three) does not link them."""
    truth = _truth(shop)
    store_only = set(truth.loc[truth["user_id"] == "", "loyalty_id"])
    with Workspace(linked[0]) as ws:
        links = _links(ws)
    assert len(store_only) > 50
    wrongly = store_only & set(links["alias"])
    assert len(wrongly) <= 0.005 * len(store_only), sorted(wrongly)


def test_precision_estimate_is_not_above_the_measured_precision(linked, shop):
    """The stated precision rests on identity-file cards linked again as if unknown; it must
    not promise more than the planted truth gives (the mean probability used to)."""
    path, report = linked
    applied, correct, _ = _scored_links(path, shop)
    measured = correct / applied
    truth = _truth(shop)
    known = int((truth["deterministic"] == "1").sum())
    cards = int(report["precision_basis"].split(" cards of the identities file")[0].replace(",", ""))
    assert 0.9 * known <= cards <= known  # those of them with in-store events
    assert report["precision_estimate"] <= measured + 0.005, (report, measured)
    assert report["precision_estimate"] >= measured - 0.05, (report, measured)
    assert report["model_precision"] >= report["precision_estimate"]


def test_links_move_store_events_to_the_online_shopper_and_unlink_moves_them_back(lws):
    before = data_version(lws)
    alias, user_id = _links(lws).iloc[0][["alias", "user_id"]]
    with lws.cursor() as cur:
        owner = {r[0] for r in cur.execute("SELECT DISTINCT user_id FROM events "
                                           "WHERE source_user_id = ?", [alias]).fetchall()}
    assert owner == {user_id}
    result = unlink(lws, alias)
    assert result["unlinked"] == [{"alias": alias, "user_id": user_id}]
    assert result["events_moved"] > 0
    with lws.cursor() as cur:
        owner = {r[0] for r in cur.execute("SELECT DISTINCT user_id FROM events "
                                           "WHERE source_user_id = ?", [alias]).fetchall()}
        status = cur.execute("SELECT status FROM identity_candidates WHERE alias = ? AND "
                             "user_id = ?", [alias, user_id]).fetchall()[0][0]
    assert owner == {alias} and status == "rejected"
    assert data_version(lws) != before  # results built on the links are flagged stale
    with pytest.raises(NotFoundError, match="No probabilistic link"):
        unlink(lws, alias)


def test_review_accept_and_bulk_reject(lws):
    pending = candidates(lws, "pending")
    # (with u freed of the true pairs the model is surer; the 700-shopper shop leaves few)
    assert len(pending) >= 1 and pending["probability"].between(0.5, 0.95).all()
    first = pending.iloc[-1]  # the least sure
    accept(lws, first["alias"], first["user_id"])
    links = _links(lws).set_index("alias")
    assert links.loc[first["alias"], "status"] == "accepted"
    rejected = decide_pending(lws, "reject", 0.5, 1.0)
    assert rejected == len(pending) - 1
    assert candidates(lws, "pending").empty
    assert coverage(lws)["pending"] == 0


def test_bulk_reject_rejects_every_pending_pair_in_the_range(lws):
    pending = candidates(lws, "pending")
    before = _links(lws)
    assert decide_pending(lws, "reject", 0.5, 1.0) == len(pending) >= 1
    statuses = candidates(lws).set_index(["alias", "user_id"])["status"]
    assert all(statuses[(a, u)] == "rejected" for a, u in zip(pending["alias"], pending["user_id"],
                                                            strict=True))
    assert _links(lws).equals(before)  # pending pairs were never applied: no link changes


def test_deterministic_links_win(lws, tmp_path):
    alias, user_id = _links(lws).iloc[0][["alias", "user_id"]]
    other = "u_other_person"
    identities = tmp_path / "ids.csv"
    identities.write_text(f"alias,user_id,alias_type\n{alias},{other},loyalty\n")
    from analytics.ingest import ingest_file
    ingest_file(lws, identities, kind="identities")
    with lws.cursor() as cur:
        mapped = cur.execute("SELECT user_id FROM identity_map WHERE alias = ?", [alias]).fetchall()
    assert mapped == [(other,)]
    with pytest.raises(ConfigError, match="identities file"):
        accept(lws, alias, user_id)


def test_forget_removes_the_shoppers_links_and_candidate_pairs(lws):
    alias, user_id = _links(lws).iloc[0][["alias", "user_id"]]
    report = forget_user(lws, user_id, remove_uploads=False)
    assert alias in report.ids
    assert report.deleted["identity_links"] >= 1 and report.deleted["identity_candidates"] >= 1
    with lws.cursor() as cur:
        left = cur.execute("SELECT count(*) FROM identity_candidates WHERE alias = ? OR user_id = ?",
                           [alias, user_id]).fetchall()[0][0]
    assert left == 0


def _raw_values(shop: Path) -> set[str]:
    """Every raw personal value of the register and account files (e-mails, phones, postcodes,
    devices)."""
    values: set[str] = set()
    for name, columns in (("loyalty_members.csv", ("email", "phone", "postcode", "app_device")),
                          ("online_accounts.csv", ("postcode", "app_device")),
                          ("customers.csv", ("email", "phone"))):
        frame = pd.read_csv(shop / name, dtype=str, keep_default_na=False)
        values |= {v for c in columns for v in frame[c] if v}
    return values


def test_no_raw_personal_value_reaches_the_database_during_linking(linked, shop):
    raw = _raw_values(shop)
    with Workspace(linked[0]) as ws, ws.cursor() as cur:
        tables = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        text = " ".join(str(v) for table in ("identity_candidates", "identity_links")
                        for row in cur.execute(f"SELECT * FROM {table}").fetchall() for v in row)
        crm = " ".join(r[0] for r in cur.execute("SELECT CAST(attributes AS VARCHAR) FROM users "
                                                 "WHERE attributes->>'email' IS NOT NULL").fetchall())
    assert not [t for t in tables if "splink" in t.lower()]  # Splink ran in its own database
    assert len(text) > 1000
    leaked = [v for v in raw if v in text]
    assert not leaked, leaked[:5]
    emails = [v for v in raw if "@" in v]
    assert emails and not [v for v in emails if v in crm]  # hashed at ingest


def test_match_weights_are_log2_m_over_u_on_a_hand_case():
    """Two comparisons with fixed m/u: weights log2(m/u), probability from prior + weights."""
    from splink import DuckDBAPI, Linker

    store = pd.DataFrame({"unique_id": ["L1"], "postcode": ["h1"], "gender": ["f"]})
    online = pd.DataFrame({"unique_id": ["u1"], "postcode": ["h1"], "gender": ["m"]})
    spec = settings(["postcode", "gender"], prior=0.01).create_settings_dict("duckdb")
    # postcode same: m 0.9, u 0.01; different: m 0.1, u 0.99. gender same: m .95 u .5; else .05 .5
    fixed = {"place": ((0.9, 0.01), (0.1, 0.99)), "gender": ((0.95, 0.5), (0.05, 0.5))}
    for comparison in spec["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for level, (m, u) in zip(levels, fixed[comparison["output_column_name"]], strict=True):
            level["m_probability"], level["u_probability"] = m, u
    spec["blocking_rules_to_generate_predictions"] = ["1=1"]
    db = DuckDBAPI()
    linker = Linker([db.register(store, dataset_display_name="store"),
                     db.register(online, dataset_display_name="online")], spec, log_level=None)
    frame = linker.inference.predict().as_pandas_dataframe()
    [pair] = _pairs(frame, linker.misc.save_model_to_json()).to_dict("records")
    weights = {e["comparison"]: e["weight"] for e in pair["evidence"]}
    assert weights["place"] == pytest.approx(math.log2(0.9 / 0.01), abs=1e-3)  # 6.492
    assert weights["gender"] == pytest.approx(math.log2(0.05 / 0.5), abs=1e-3)  # -3.322
    assert weights["prior"] == pytest.approx(math.log2(0.01 / 0.99), abs=1e-3)  # -6.629
    total = sum(weights.values())
    assert pair["probability"] == pytest.approx(2**total / (1 + 2**total), rel=1e-3)
    assert (pair["alias"], pair["user_id"]) == ("L1", "u1")
    labels = {e["comparison"]: e["label"] for e in pair["evidence"]}
    assert labels == {"prior": "starting odds", "place": "same postcode", "gender": "different"}
    assert evidence_words(pair["evidence"]).startswith("place (hashed postcode, city or store; "
                                                       "country): same postcode (+6.5)")


def _levels(pairs: list[tuple[float | None, float | None]]) -> dict[str, Any]:
    levels: list[dict[str, Any]] = [{"is_null_level": True}]
    levels += [{"m_probability": m, "u_probability": u} for m, u in pairs]
    return {"comparisons": [{"output_column_name": "x", "comparison_levels": levels}]}


def _mu(model: dict[str, Any]) -> list[tuple[float, float]]:
    return [(pytest.approx(lv["m_probability"]), pytest.approx(lv["u_probability"]))
            for lv in model["comparisons"][0]["comparison_levels"][1:]]


def test_one_disagreement_cannot_veto_a_pair_by_hand():
    """Gender 'different' m 0.00003 (weight −14) becomes 0.01, 'same' 0.99997 scaled to
    0.99; an untrained last level (different place) gets the floor; one at or above is kept."""
    from analytics.identity.model import bound_m

    gender = bound_m(_levels([(0.99997, 0.5), (0.00003, 0.5)]))
    assert _mu(gender) == [(0.99, 0.5), (0.01, 0.5)]
    assert math.log2(0.01 / 0.5) == pytest.approx(-5.644, abs=1e-3)  # the least a gender weighs
    place = bound_m(_levels([(0.9, 0.001), (0.1, 0.2), (None, 0.799)]))
    assert _mu(place) == [(0.9 * 0.99, 0.001), (0.1 * 0.99, 0.2), (0.01, 0.799)]
    kept = bound_m(_levels([(0.8, 0.1), (0.2, 0.9)]))
    assert _mu(kept) == [(0.8, 0.1), (0.2, 0.9)]


def test_u_is_freed_of_the_true_pairs_in_the_random_sample_by_hand():
    """U = (1 − s)·u_unrelated + s·m. With s = 0.0002 and 'same e-mail' m 0.99, u 0.0005
    holds 0.000198 of true pairs: u_unrelated = (0.0005 − 0.000198) / 0.9998; the last level
    takes the rest. A u the correction would push below a tenth keeps a tenth."""
    from analytics.identity.model import decontaminate_u

    email = decontaminate_u(_levels([(0.99, 0.0005), (0.01, 0.9995)]), 0.0002)
    u = (0.0005 - 0.0002 * 0.99) / 0.9998
    assert _mu(email) == [(0.99, u), (0.01, 1 - u)]
    floor = decontaminate_u(_levels([(0.99, 0.0002), (0.01, 0.9998)]), 0.0002)
    assert _mu(floor) == [(0.99, 0.00002), (0.01, 1 - 0.00002)]


def test_threshold_out_of_range_is_refused_and_nothing_written(lws):
    before = _links(lws)
    with pytest.raises(ConfigError, match="outside"):
        find_links(lws, 0.3, apply=True)
    pd.testing.assert_frame_equal(_links(lws), before)


def test_mask_never_shows_a_whole_id():
    assert mask("L01234") == "L0…34"
    assert mask("a" * 64) == "aa…aa"


def test_empty_workspace_finds_nothing(ws):
    report = find_links(ws)
    assert (report.candidates, report.applied, report.precision_estimate) == (0, 0, None)


def test_cli_link_json_review_file_and_unlink(identity_linked, lws, capsys):
    _, result, review_file = identity_linked
    assert {"candidates", "applied", "review", "precision_estimate"} <= set(result)
    assert result["written"] is True and result["review"] > 0
    assert result["candidates"] == result["applied"] + result["review"]
    review = pd.read_csv(review_file)
    assert len(review) == result["review"]
    assert review["probability"].between(0.5, 0.95).all()
    assert review["evidence"].str.contains(r"\([+-]\d", regex=True).all()  # weights in words
    db = str(lws.path)
    alias = _links(lws).iloc[0]["alias"]
    lws.close()
    assert main(["unlink", "--db", db, alias, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip())["unlinked"][0]["alias"] == alias
    assert main(["unlink", "--db", db, alias]) == 2
    assert "No probabilistic link" in capsys.readouterr().err
    assert main(["link", "--db", db, "--threshold", "2"]) == 2
    assert "outside" in capsys.readouterr().err


def test_names_are_compared_by_their_hashed_soundex_and_never_stored(ws, write, tmp_path):
    """A name column is hashed at ingest with its Soundex code hashed beside it: "Marguerite"
    on the card and "Margarite" online sound alike, and no raw name is in any table or the
    database file."""
    from analytics.identity.features import identity_frames
    from analytics.identity.model import _present
    from analytics.ingest import ingest_file

    names = {"L1": "Marguerite", "L2": "Tymczak", "u1": "Margarite", "u2": "Robert"}
    register = "card_id,first_name,postcode\nL1,Marguerite,AB1\nL2,Tymczak,AB2\n"
    accounts = "user_id,first_name,postcode\nu1,Margarite,AB1\nu2,Robert,AB9\n"
    pos = "loyalty_id,ts,sku,qty,amount\nL1,2024-01-01 10:00:00,s1,1,9.5\nL2,2024-01-02 10:00:00,s1,1,3\n"
    web = "user_id,event_time,event_type\nu1,2024-01-03 10:00:00,view\nu2,2024-01-03 11:00:00,view\n"
    ingest_file(ws, write("register.csv", register), kind="users",
                mapping={"user_id": "card_id"})
    report = ingest_file(ws, write("accounts.csv", accounts), kind="users")
    assert any("first_name_sounds" in n for n in report.notes)
    ingest_file(ws, write("pos.csv", pos), source="offline",
                mapping={"user_id": "loyalty_id", "event_time": "ts"})
    ingest_file(ws, write("web.csv", web))
    with ws.cursor() as cur:
        sides, _ = identity_frames(cur, ws.pii_salt())
        text = " ".join(str(v) for (table,) in cur.execute(
            "SELECT table_name FROM duckdb_tables()").fetchall()
            for row in cur.execute(f'SELECT * FROM "{table}"').fetchall() for v in row)  # noqa: S608
    store, online = (side.set_index("unique_id") for side in (sides.store, sides.online))
    assert store.loc["L1", "name_sounds"] == online.loc["u1", "name_sounds"]  # M626 both
    assert store.loc["L1", "name"] != online.loc["u1", "name"]  # spelt differently
    assert store.loc["L2", "name_sounds"] != online.loc["u2", "name_sounds"]  # T522 vs R163
    assert "name" in _present(sides)
    assert "_sounds" in text  # the codes are in users.attributes, hashed
    leaked = [n for n in names.values() if n.lower() in text.lower()]
    assert not leaked, leaked
    ws.close()
    raw = (tmp_path / "ws" / "shopper_lens.duckdb").read_bytes().lower()
    assert not [n for n in names.values() if n.lower().encode() in raw]


def test_prior_is_the_share_of_pairs_the_evidence_says_are_true():
    """Three pairs beyond doubt and 500 beyond hope among 1,000 pairs: λ = 3/1,000."""
    from analytics.identity.calibration import fixed_prior, probabilities

    weights = pd.Series([40.0] * 3 + [-40.0] * 500)
    prior = fixed_prior(weights, 1000, start=0.2)
    assert prior == pytest.approx(0.003, rel=1e-3)
    assert probabilities([0.0], 0.2)[0] == pytest.approx(0.2)  # no evidence: the prior


def test_held_out_precision_on_a_hand_case():
    """Four identity-file cards linked again: A finds its self, B is linked to a stranger
    although its self is there, C finds its self but a stranger also passes without it, D has
    no candidate. found 2/4, wrong 1/4, linked without a self 2/4. With 10 unknown cards and 6
    links: selves = (6 − 10·½) / (½ + ¼ − ½) = 4, wrong = 4·¼ + 6·½ = 4, precision 1 − 4/6."""
    from analytics.identity.calibration import held_out_precision

    scored = pd.DataFrame([("A", "a", 0.99), ("A", "x", 0.2), ("A", "z", 0.99),  # z: not in pool
                           ("B", "b", 0.6), ("B", "x", 0.97), ("C", "c", 0.99), ("C", "y", 0.96),
                           ("E", "x", 0.99)], columns=["alias", "user_id", "probability"])
    known = {"A": "a", "B": "b", "C": "c", "D": "d"}
    got = held_out_precision(scored, known, {"x", "y"}, 0.95, store_ids=10, applied=6)
    assert (got.held_out, got.found_rate, got.wrong_rate, got.stranger_rate) == (4, 0.5, 0.25, 0.5)
    assert got.point == pytest.approx(1 - 4 / 6, abs=1e-4)
    assert got.value is not None and got.value <= got.point  # upper bounds of the error rates
    assert got.basis.startswith("4 cards of the identities file")

@pytest.mark.spark
@needs_spark
def test_splinks_spark_backend_scores_the_same_pairs_as_duckdb(tmp_path, spark):  # noqa: F811
    """A model trained on DuckDB, rewritten for Spark SQL and scored on Splink's Spark backend:
    the same blocked and candidate pairs, probabilities and evidence within 1e-6. (Training on
    Spark too is measured by benchmarks/identity_spark.py: it is minutes of small Spark jobs.)"""
    from analytics.bundle import load_bundle
    from analytics.identity.features import identity_frames
    from analytics.identity.model import model_for, predict, score
    from analytics.sample import generate

    shop = generate(tmp_path / "shop", users=200, seed=11).out_dir
    with Workspace(tmp_path / "ws" / "shopper_lens.duckdb", allow=[shop]) as ws:
        load_bundle(ws, shop)
        with ws.cursor() as cur:
            sides, _ = identity_frames(cur, ws.pii_salt())
        with pytest.raises(ConfigError, match="Unknown linking engine 'polars'"):
            find_links(ws, engine="polars")
    on_duckdb = score(sides, sides)
    spark_model = model_for(on_duckdb.model, "spark")
    assert "`" in json.dumps(spark_model) and "list_cosine_similarity" not in json.dumps(spark_model)
    on_spark = predict(sides, spark_model, spark=spark)
    a, b = on_duckdb.pairs, on_spark.pairs
    key = ["alias", "user_id"]
    assert len(a) >= 20 and a[key].values.tolist() == b[key].values.tolist()
    assert on_spark.blocked_pairs == on_duckdb.blocked_pairs
    assert (a["probability"] - b["probability"]).abs().max() < 1e-6
    weights = [[e["weight"] for e in row] for row in a["evidence"]]
    assert weights == [[e["weight"] for e in row] for row in b["evidence"]]
