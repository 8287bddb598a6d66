"""`fundflow train`: learn a lead ranking from the office's closed leads (or a labels CSV standing in for them).

Two levels. With `--labels` (e.g. the generator's truth/accounts.csv) the examples are the alerted accounts —
every account an alert (or an alert on its actor) names, the candidates the office must rank — labelled 1 when
a scheme account that is not a participant; the rule ranking is the sum of the account's alert scores. From the
case store the examples are the rings behind closed leads (determined illegal or not). Either way the model
learns from what was seen earlier and is measured on what was seen later, next to the rule ranking on the same
examples, and is stored under <home>/models/ with a card of its figures; it ranks leads only when it beats the
rules there (pipelines.cases.ranking). Too few labels, or one class only: refused, the rules keep ranking.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import joblib
import numpy as np
import polars as pl
import sklearn
import sqlalchemy as sa
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline

from detectors.scoring import ALERTED_ACCOUNT_FEATURES, RING_FEATURES, alerted_account_features, ring_features
from pipelines.errors import FundflowError
from pipelines.evaluation.truth import read_truth
from pipelines.formatting import table_text
from pipelines.hashing import file_sha256
from pipelines.settings import Settings
from pipelines.vocabulary import TRAINING_LEVELS
from pipelines.warehouse import db as warehouse

MIN_LABELS = 20
"""Fewest labelled examples to train on (closed leads, or alerted accounts)."""
TRAIN_SHARE = 0.7
"""The earliest 70% of labelled examples train the model; the latest 30% measure it."""
TOP_K = 10
"""The queue an office works first: precision@K compares the two rankings on the top K held-out examples."""
SEED = 0
DECIDING_METRIC = "precision_at_k"

POSITIVE_STATUSES = ("DETERMINED_ILLEGAL", "DISPOSITION")
"""A lead in, or closed after, one of these was determined illegal fundraising (or needed disposition)."""
NEGATIVE_STATUSES = ("NOT_ILLEGAL",)
"""A lead here, or closed without ever being determined (excluded at triage), was not."""


@dataclass(frozen=True)
class Level:
    """What one example is: its id column, its features, and how a person counts it."""

    name: str  # account | ring
    id_column: str
    features: tuple[str, ...]
    unit_zh: str
    unit_en: str


ACCOUNT_LEVEL = Level("account", "account_no", ALERTED_ACCOUNT_FEATURES, "个预警账户", "alerted accounts")
RING_LEVEL = Level("ring", "ring_id", RING_FEATURES, "条已办结线索", "closed leads")


class TrainingRefusedError(FundflowError):
    """Too few labels, or labels that cannot measure a model; the ranking in use stays as it is."""


@dataclass(frozen=True)
class Example:
    ring_id: str
    label: int
    source: str  # lead id


def train(settings: Settings, truth_path: str | None = None) -> dict:
    """Train, measure and store a ranking model; returns its card. Raises TrainingRefusedError."""
    if truth_path:
        path = Path(truth_path)
        truth = {account.account_no: account.positive for account in read_truth(path).accounts}
        con = warehouse.connect(settings)
        try:
            accounts = alerted_account_features(con)
        finally:
            con.close()
        table, level = label_accounts(accounts, truth), ACCOUNT_LEVEL
        source: dict[str, str | int] = {"kind": "file", "path": str(path.resolve()), "sha256": file_sha256(path)}
    else:
        con = warehouse.connect(settings)
        try:
            rings = ring_features(con)
        finally:
            con.close()
        examples = examples_from_case_store(settings)
        table, level = _labelled(rings, examples), RING_LEVEL
        # a lead whose ring is not in the warehouse (entered by hand, or its data removed) has no features
        source = {
            "kind": "case_store",
            "leads_without_ring": len({e.ring_id for e in examples} - set(table["ring_id"].to_list())),
        }
    _check_enough(table, level)
    train_part, test_part = time_split(table, level)
    model = fit(train_part, level)
    figures = evaluate(model, train_part, test_part, level)
    return store_model(settings, model, figures, table, train_part, test_part, source, level)


def refuse(message_zh: str, message_en: str) -> TrainingRefusedError:
    return TrainingRefusedError(f"{message_zh}，规则排序保持不变 / {message_en}; the rules keep ranking")


def label_accounts(accounts: pl.DataFrame, truth: dict[str, bool]) -> pl.DataFrame:
    """Alerted accounts labelled from the truth file (1: a scheme account, 0: anyone else the rules named);
    `seen_on` is the day after the window of the run that first alerted the account."""
    labels = [int(truth.get(account, False)) for account in accounts["account_no"].to_list()]
    return accounts.with_columns(
        pl.Series("label", labels, dtype=pl.Int64), pl.col("window_end").dt.date().alias("seen_on")
    )


def _published_leads(settings: Settings) -> list[dict]:
    from pipelines.cases.store import CaseStore, leads

    store = CaseStore.open(settings)
    try:
        with store.read() as conn:
            query = (
                sa.select(leads.c.lead_id, leads.c.ring_key, leads.c.status)
                .where(leads.c.ring_key.is_not(None))
                .order_by(leads.c.lead_id)
            )
            return [dict(row) for row in conn.execute(query).mappings()]
    finally:
        store.close()


def examples_from_case_store(settings: Settings) -> list[Example]:
    """Closed leads as labels: determined illegal or disposed = 1; not illegal or closed at triage = 0."""
    from pipelines.cases.store import CaseStore, events

    store = CaseStore.open(settings)
    try:
        with store.read() as conn:
            reached: dict[str, set[str]] = {}
            for lead_id, to_status in conn.execute(sa.select(events.c.lead_id, events.c.to_status)):
                if to_status:
                    reached.setdefault(lead_id, set()).add(to_status)
    finally:
        store.close()
    examples = []
    for lead in _published_leads(settings):
        label = lead_label(lead["status"], reached.get(lead["lead_id"], set()))
        if label is not None:
            examples.append(Example(lead["ring_key"], label, lead["lead_id"]))
    return examples


def lead_label(status: str, reached: set[str]) -> int | None:
    """1, 0, or None for a lead still open (or merged) whose outcome is not known yet."""
    if status in POSITIVE_STATUSES:
        return 1
    if status in NEGATIVE_STATUSES:
        return 0
    if status == "CLOSED":
        return 1 if reached & set(POSITIVE_STATUSES) else 0
    return None


def _labelled(rings: pl.DataFrame, examples: list[Example]) -> pl.DataFrame:
    """Ring features (each ring as its first run saw it) joined to labels; `seen_on` is the day after that
    run's window, when the office first had the ring. A ring behind two leads counts once, by its first lead."""
    if not examples:
        raise refuse(
            f"没有已办结的线索可作标签（需至少 {MIN_LABELS} 条）",
            f"no closed leads to learn from (at least {MIN_LABELS} needed)",
        )
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(example.ring_id, example)
    labels = pl.DataFrame(
        {
            "ring_id": list(first),
            "label": [e.label for e in first.values()],
            "source": [e.source for e in first.values()],
        },
        schema={"ring_id": pl.String, "label": pl.Int64, "source": pl.String},
    )
    table = rings.join(labels, on="ring_id", how="inner")
    return table.with_columns(pl.col("window_end").dt.date().alias("seen_on"))


def _check_enough(table: pl.DataFrame, level: Level) -> None:
    positives = int(table["label"].sum() or 0)
    negatives = table.height - positives
    if table.height < MIN_LABELS:
        raise refuse(
            f"标签过少：{table.height} {level.unit_zh}（需至少 {MIN_LABELS}）",
            f"too few labels: {table.height} {level.unit_en} (at least {MIN_LABELS} needed)",
        )
    if positives == 0 or negatives == 0:
        raise refuse(
            f"标签只有一类：{positives} 个认定非法、{negatives} 个不构成",
            f"labels of one class only: {positives} illegal, {negatives} not illegal",
        )


def time_split(table: pl.DataFrame, level: Level) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Earliest TRAIN_SHARE of the examples (by the day the office had them, then their first activity)
    train; the rest measure. Refuses when either part cannot do its job."""
    ordered = table.sort(["seen_on", "first_activity", level.id_column])
    cut = math.ceil(TRAIN_SHARE * ordered.height)
    train_part, test_part = ordered.head(cut), ordered.tail(ordered.height - cut)
    if train_part["label"].n_unique() < 2:
        raise refuse(
            "前段（训练段）标签只有一类，无法训练", "the earlier (training) examples have labels of one class only"
        )
    if int(test_part["label"].sum()) == 0:
        raise refuse("后段（检验段）中没有认定非法的，无法检验", "the later (held-out) examples have no positive label")
    return train_part, test_part


def _matrix(table: pl.DataFrame, level: Level) -> np.ndarray:
    return table.select(level.features).to_numpy().astype(float)


def fit(train_part: pl.DataFrame, level: Level):
    """Median imputation, then shallow gradient boosting with a fixed seed (deterministic: no subsampling)."""
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        GradientBoostingClassifier(n_estimators=100, max_depth=2, learning_rate=0.1, random_state=SEED),
    )
    model.fit(_matrix(train_part, level), train_part["label"].to_numpy())
    return model


def ranking_figures(scores: np.ndarray, labels: np.ndarray, threshold: float, k: int) -> dict:
    """Precision and recall of `score ≥ threshold`, precision@K and recall@K of the top K, average precision.
    Ties in score are broken by position (the examples' time order), the same for both rankings."""
    flagged = scores >= threshold
    positives = int(labels.sum())
    top = np.argsort(-scores, kind="stable")[:k]
    hits_at_k = int(labels[top].sum())
    return {
        "threshold": round(float(threshold), 6),
        "flagged": int(flagged.sum()),
        "precision": round(float(labels[flagged].mean()), 4) if flagged.any() else 0.0,
        "recall": round(float(labels[flagged].sum() / positives), 4) if positives else 0.0,
        "precision_at_k": round(hits_at_k / k, 4),
        "recall_at_k": round(hits_at_k / positives, 4) if positives else 0.0,
        "average_precision": round(float(average_precision_score(labels, scores)), 4),
    }


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The rule-score cut with the best F1 on the training examples (the rules' fair counterpart of 0.5)."""
    best, best_f1 = float(scores.max()), -1.0
    for cut in sorted(set(scores.tolist()), reverse=True):
        flagged = scores >= cut
        hits = float(labels[flagged].sum())
        f1 = 2 * hits / (flagged.sum() + labels.sum()) if hits else 0.0
        if f1 > best_f1:
            best, best_f1 = cut, f1
    return best


def evaluate(model, train_part: pl.DataFrame, test_part: pl.DataFrame, level: Level) -> dict:
    labels = test_part["label"].to_numpy()
    k = min(TOP_K, test_part.height)
    model_scores = model.predict_proba(_matrix(test_part, level))[:, 1]
    rule_cut = best_f1_threshold(train_part["rule_score"].to_numpy(), train_part["label"].to_numpy())
    model_figures = ranking_figures(model_scores, labels, 0.5, k)
    rule_figures = ranking_figures(test_part["rule_score"].to_numpy(), labels, rule_cut, k)
    won = model_figures[DECIDING_METRIC] > rule_figures[DECIDING_METRIC]
    name = f"precision@{k}"
    if won:
        reason_zh = (
            f"模型在后段的 {name} 为 {model_figures[DECIDING_METRIC]:.2f}，高于规则排序的 "
            f"{rule_figures[DECIDING_METRIC]:.2f}，启用模型排序"
        )
        reason_en = (
            f"the model's held-out {name} {model_figures[DECIDING_METRIC]:.2f} beats the rules' "
            f"{rule_figures[DECIDING_METRIC]:.2f}: the model ranks"
        )
    else:
        reason_zh = (
            f"模型在后段的 {name} 为 {model_figures[DECIDING_METRIC]:.2f}，未超过规则排序的 "
            f"{rule_figures[DECIDING_METRIC]:.2f}，仍按规则排序"
        )
        reason_en = (
            f"the model's held-out {name} {model_figures[DECIDING_METRIC]:.2f} does not beat the rules' "
            f"{rule_figures[DECIDING_METRIC]:.2f}: the rules keep ranking"
        )
    return {
        "k": k,
        "model": model_figures,
        "rules": rule_figures,
        "in_use": won,
        "decided_by": DECIDING_METRIC,
        "reason_zh": reason_zh,
        "reason_en": reason_en,
    }


def _counts(table: pl.DataFrame) -> dict:
    positives = int(table["label"].sum())
    return {"examples": table.height, "positive": positives, "negative": table.height - positives}


def _period(table: pl.DataFrame) -> dict:
    return {
        "from": str(table["seen_on"].min()),
        "to": str(table["seen_on"].max()),
        "first_activity_from": str(table["first_activity"].min()),
        "first_activity_to": str(table["first_activity"].max()),
    }


def models_dir(settings: Settings) -> Path:
    return settings.home / "models"


def store_model(
    settings: Settings,
    model,
    figures: dict,
    table: pl.DataFrame,
    train_part: pl.DataFrame,
    test_part: pl.DataFrame,
    source: dict,
    level: Level,
) -> dict:
    """Write ranker-<time>.joblib and its card ranker-<time>.json, and make that card current.json."""
    folder = models_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    trained_at = datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
    stem = f"ranker-{trained_at:%Y%m%dT%H%M%S}"
    model_path = folder / f"{stem}.joblib"
    joblib.dump(model, model_path)
    card = {
        "trained_at": trained_at.isoformat(sep=" "),
        "level": level.name,
        "model_file": model_path.name,
        "sha256": file_sha256(model_path),
        "in_use": figures["in_use"],
        "decided_by": figures["decided_by"],
        "reason_zh": figures["reason_zh"],
        "reason_en": figures["reason_en"],
        "k": figures["k"],
        "figures": {"model": figures["model"], "rules": figures["rules"]},
        "data_window": {"all": _period(table), "train": _period(train_part), "test": _period(test_part)},
        "labels": {"source": source, "all": _counts(table), "train": _counts(train_part), "test": _counts(test_part)},
        "features": list(level.features),
        "estimator": "SimpleImputer(median) + GradientBoostingClassifier(n_estimators=100, max_depth=2, "
        "learning_rate=0.1)",
        "seed": SEED,
        "train_share": TRAIN_SHARE,
        "sklearn_version": sklearn.__version__,
    }
    text = json.dumps(card, ensure_ascii=False, indent=2)
    (folder / f"{stem}.json").write_text(text, encoding="utf-8")
    (folder / "current.json").write_text(text, encoding="utf-8")
    return card


def report(card: dict) -> str:
    """The figures as analysts read them: the model next to the rules on the same held-out examples."""
    k = card["k"]
    level = ACCOUNT_LEVEL if card["level"] == "account" else RING_LEVEL
    unit = f"{level.unit_zh} {level.unit_en}"
    lines = [
        f"训练完成 / trained: {card['model_file']} (sha256 {card['sha256'][:12]}…)",
        f"样本层级 / level: {TRAINING_LEVELS[level.name]}",
        f"标签 / labels: 训练段 train {_count_text(card['labels']['train'], unit)}；"
        f"检验段 held-out {_count_text(card['labels']['test'], unit)}",
        f"检验段 / held-out: 发现于 seen {_span(card['data_window']['test'], '')}，"
        f"首次活动 first activity {_span(card['data_window']['test'], 'first_activity_')}",
    ]
    figures = [
        [label]
        + [
            f"{card['figures'][name][key]:.2f}"
            for key in ("precision", "recall", "precision_at_k", "recall_at_k", "average_precision")
        ]
        for name, label in (("model", "模型 / model"), ("rules", "规则 / rules"))
    ]
    lines.append(
        table_text(["排序 / ranking", "precision", "recall", f"P@{k}", f"R@{k}", "AP"], figures, right={1, 2, 3, 4, 5})
    )
    lines.append(f"结论 / decision: {card['reason_zh']} / {card['reason_en']}")
    return "\n".join(lines)


def _span(period: dict, prefix: str) -> str:
    start, end = period[f"{prefix}from"][:10], period[f"{prefix}to"][:10]
    return start if start == end else f"{start} – {end}"


def _count_text(counts: dict, unit: str) -> str:
    return f"{counts['examples']} {unit} (认定非法 positive {counts['positive']}, 不构成 negative {counts['negative']})"
