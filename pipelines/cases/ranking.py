"""Which ranking orders the lead queue, and why: the rules' score, or the trained model once it has beaten the
rules on a held-out period (`fundflow train`). The console and `leads list` show `current_ranking`; publishing
stores `rank_scores` in each lead's `rank_score`; each detect run records `model_hash` in `runs.model_hash`.
"""

from __future__ import annotations

import json
from functools import lru_cache

import duckdb

from pipelines.hashing import file_sha256
from pipelines.settings import Settings

CURRENT_CARD = "current.json"


def _card(settings: Settings) -> dict | None:
    path = settings.home / "models" / CURRENT_CARD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def current_ranking(settings: Settings) -> dict:
    """{name: "rules"|"model", level, reason_zh, reason_en, model_hash, figures, k, trained_at}.

    "model" only when the latest training beat the rules on its held-out period and the model file is still
    the one that was measured (same sha256); anything else leaves the rules ranking, with the reason.
    """
    card = _card(settings)
    if card is None:
        return _rules("尚未训练排序模型，按规则得分排序", "no ranking model has been trained: the rules rank", None)
    if not card.get("in_use"):
        return _rules(card["reason_zh"], card["reason_en"], card)
    model_path = settings.home / "models" / card["model_file"]
    found = file_sha256(model_path) if model_path.is_file() else None
    if found != card["sha256"]:
        return _rules(
            "模型文件缺失或已被改动，按规则得分排序",
            "the model file is missing or changed since it was measured: the rules rank",
            card,
        )
    return {
        "name": "model",
        "level": card["level"],
        "reason_zh": card["reason_zh"],
        "reason_en": card["reason_en"],
        "model_hash": card["sha256"],
        "figures": card["figures"],
        "k": card["k"],
        "trained_at": card["trained_at"],
    }


def _rules(reason_zh: str, reason_en: str, card: dict | None) -> dict:
    return {
        "name": "rules",
        "level": None,
        "reason_zh": reason_zh,
        "reason_en": reason_en,
        "model_hash": None,
        "figures": card["figures"] if card else None,
        "k": card["k"] if card else None,
        "trained_at": card["trained_at"] if card else None,
    }


def model_hash(settings: Settings) -> str | None:
    """sha256 of the model file that ranks leads now, or None while the rules rank (for runs.model_hash)."""
    return current_ranking(settings)["model_hash"]


@lru_cache(maxsize=4)
def _load(path: str, sha256: str):
    # keyed by the hash too, so a retrained model in the same file is never served from the cache
    import joblib

    return joblib.load(path)


def rank_scores(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict[str, float]:
    """ring_id → model score for the run's rings when the model ranks; {} while the rules rank (leads keep
    no rank score). A lead-level model scores each ring; an account-level model scores the run's alerted
    accounts, and a ring takes its hub's score, or its best member's when the hub itself was not alerted."""
    ranking = current_ranking(settings)
    if ranking["name"] != "model":
        return {}
    # imported here: the console and `leads list` read current_ranking without loading scikit-learn
    from detectors.scoring import alerted_account_features, ring_features

    card = _card(settings)
    if card is None:
        return {}
    model = _load(str(settings.home / "models" / card["model_file"]), card["sha256"])
    if card["level"] == "ring":
        examples, id_column = ring_features(con, run_id=run_id), "ring_id"
    else:
        examples, id_column = alerted_account_features(con, run_id=run_id), "account_no"
    if examples.is_empty():
        return {}
    probabilities = model.predict_proba(examples.select(card["features"]).to_numpy().astype(float))[:, 1]
    scores = {key: round(float(p), 6) for key, p in zip(examples[id_column].to_list(), probabilities)}
    if card["level"] == "ring":
        return scores
    by_ring = {}
    rings = con.execute("SELECT ring_id, hub_account, member_accounts FROM rings WHERE run_id = ?", [run_id])
    for ring_id, hub, members in rings.fetchall():
        member_scores = [scores[a] for a in members if a in scores]
        if hub in scores:
            by_ring[ring_id] = scores[hub]
        elif member_scores:
            by_ring[ring_id] = max(member_scores)
    return by_ring


def ranking_line(settings: Settings) -> str:
    """One line for `leads list` and the console: which ranking orders the queue, and why."""
    current = current_ranking(settings)
    shown = "模型排序 model" if current["name"] == "model" else "规则排序 rules"
    return f"排序 / ranking: {shown} — {current['reason_zh']} / {current['reason_en']}"
