"""Which ranking orders the lead queue, and why: the rules' score, or the trained model once it has beaten the
rules on a held-out period (`fundflow train`). The console and `leads list` show `current_ranking`; publishing
calls `rank_scores`; each run records `model_hash` in `runs.model_hash`.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import duckdb
import joblib
import numpy as np

from detectors.scoring import ring_features
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


def _file_sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def current_ranking(settings: Settings) -> dict:
    """{name: "rules"|"model", reason_zh, reason_en, model_hash, figures, k, trained_at}.

    "model" only when the latest training beat the rules on its held-out period and the model file is still
    the one that was measured (same sha256); anything else leaves the rules ranking, with the reason.
    """
    card = _card(settings)
    if card is None:
        return _rules("尚未训练排序模型，按规则得分排序", "no ranking model has been trained: the rules rank",
                      None)
    if not card.get("in_use"):
        return _rules(card["reason_zh"], card["reason_en"], card)
    found = _file_sha256(settings.home / "models" / card["model_file"])
    if found != card["sha256"]:
        return _rules("模型文件缺失或已被改动，按规则得分排序",
                      "the model file is missing or changed since it was measured: the rules rank", card)
    return {"name": "model", "reason_zh": card["reason_zh"], "reason_en": card["reason_en"],
            "model_hash": card["sha256"], "figures": card["figures"], "k": card["k"],
            "trained_at": card["trained_at"]}


def _rules(reason_zh: str, reason_en: str, card: dict | None) -> dict:
    return {"name": "rules", "reason_zh": reason_zh, "reason_en": reason_en, "model_hash": None,
            "figures": card["figures"] if card else None, "k": card["k"] if card else None,
            "trained_at": card["trained_at"] if card else None}


def model_hash(settings: Settings) -> str | None:
    """sha256 of the model file that ranks leads now, or None while the rules rank (for runs.model_hash)."""
    return current_ranking(settings)["model_hash"]


@lru_cache(maxsize=4)
def _load(path: str, sha256: str):
    # keyed by the hash too, so a retrained model in the same file is never served from the cache
    return joblib.load(path)


def _model_in_use(settings: Settings):
    """(model, feature names) when the model ranks, else None."""
    ranking = current_ranking(settings)
    if ranking["name"] != "model":
        return None
    card = _card(settings)
    return _load(str(settings.home / "models" / card["model_file"]), card["sha256"]), card["features"]


def rank_score(lead_features: Mapping[str, float | None], settings: Settings) -> float:
    """The score a lead is ranked by: the model's probability that it is illegal fundraising when the model
    ranks, else its rule score (`lead_features["rule_score"]`). Keys are detectors.scoring.RING_FEATURES."""
    loaded = _model_in_use(settings)
    if loaded is None:
        return float(lead_features["rule_score"])
    model, names = loaded
    row = np.array([[_number(lead_features.get(name)) for name in names]], dtype=float)
    return float(model.predict_proba(row)[0, 1])


def rank_scores(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> dict[str, float]:
    """ring_id → model score for every ring of the run when the model ranks; {} while the rules rank (keep
    the rule score). One batch: the features of all the run's rings are computed in one pass."""
    loaded = _model_in_use(settings)
    if loaded is None:
        return {}
    model, names = loaded
    rings = ring_features(con, run_id=run_id)
    if rings.is_empty():
        return {}
    scores = model.predict_proba(rings.select(names).to_numpy().astype(float))[:, 1]
    return {ring_id: round(float(score), 6) for ring_id, score in zip(rings["ring_id"].to_list(), scores)}


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def ranking_line(settings: Settings) -> str:
    """One line for `leads list` and the console: which ranking orders the queue, and why."""
    current = current_ranking(settings)
    shown = "模型排序 model" if current["name"] == "model" else "规则排序 rules"
    return f"排序 / ranking: {shown} — {current['reason_zh']} / {current['reason_en']}"
