"""Lawful look-alikes (rules/lookalikes.yaml): each ring's core money measured (lookalike_features.sql) and
matched against lawful profiles (care home, co-op, insurer, bank product, merchant) and suspect signs (fixed-rate
returns, drains to individuals and cash, a snowballing campaign). A suspect sign always wins: a ring is cleared
only when a profile holds and no sign does. Publishing (pipelines/cases/publish.py) ranks a cleared ring lower
and writes the reasons either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from detectors.pack import KEYWORDS_FILE, LOOKALIKES_FILE, RulePackInvalid, check_words, parse_yaml

FEATURES = (
    "payers",
    "regular_payer_share",
    "late_new_payer_share",
    "pos_share",
    "round_share",
    "operating_share",
    "drain_share",
    "payout_share",
    "payouts",
    "payout_ratio",
    "fixed_rate_share",
    "to_financial_share",
    "financial_holder",
)
WORD_LISTS = ("wages", "utilities", "claims")
SQL = (Path(__file__).with_name("lookalike_features.sql")).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Sign:
    """A lawful profile (kind set) or a suspect sign (kind empty): bounds on the features, and the reason."""

    sign_id: str
    kind: str
    reason_zh: str
    reason_en: str
    bounds: dict[str, tuple[float | None, float | None]]

    def holds(self, features: dict) -> bool:
        for name, (low, high) in self.bounds.items():
            value = float(features.get(name) or 0)
            if (low is not None and value < low) or (high is not None and value > high):
                return False
        return True

    def reason(self, features: dict) -> dict:
        values = {name: _number(features.get(name)) for name in FEATURES}
        return {"rule_id": self.sign_id, "zh": self.reason_zh.format(**values), "en": self.reason_en.format(**values)}


@dataclass(frozen=True)
class LookalikeRules:
    score_factor: float
    min_payers: int
    words: dict[str, tuple[str, ...]]
    financial_words: tuple[str, ...]
    lawful: tuple[Sign, ...]
    suspect: tuple[Sign, ...]


@dataclass
class Assessment:
    """What the look-alike rules say about one ring."""

    features: dict
    kind: str = ""
    """The lawful kind the ring looks like (a profile held), else empty."""
    cleared: bool = False
    """A profile held and no suspect sign did."""
    reasons: list[dict] = field(default_factory=list)
    """{rule_id, zh, en} of the profile and of every suspect sign that held."""
    suspected: bool = False


def _number(value):
    return int(value) if isinstance(value, bool) else (value if value is not None else 0)


def load_lookalike_rules(folder: str | Path) -> LookalikeRules | None:
    """rules/lookalikes.yaml checked, every problem listed with file and field; None when the pack has none."""
    folder = Path(folder)
    path = folder / LOOKALIKES_FILE
    if not path.exists():
        return None
    shown = f"{folder.name}/{LOOKALIKES_FILE}"
    problems: list[str] = []
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
        keywords = parse_yaml((folder / KEYWORDS_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulePackInvalid([f"{shown}: 无法读取 / unreadable: {' '.join(str(exc).split())}"]) from None
    if not isinstance(data, dict):
        raise RulePackInvalid([f"{shown}: 应为键值表 / expected a mapping"])
    for key in data:
        if key not in ("score_factor", "min_payers", "words", "lawful", "suspect"):
            problems.append(f"{shown}: {key}: 未知字段 / unknown field")
    factor = data.get("score_factor")
    if not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
        problems.append(f"{shown}: score_factor: 应为 0 到 1 之间的数 / must be a number from 0 to 1")
    min_payers = data.get("min_payers")
    if not isinstance(min_payers, int) or min_payers < 0:
        problems.append(f"{shown}: min_payers: 应为非负整数 / must be a whole number ≥ 0")
    words: dict[str, tuple[str, ...]] = {}
    given = data.get("words")
    given_words: dict = given if isinstance(given, dict) else {}
    for name in WORD_LISTS:
        listed = check_words(given_words.get(name), f"{shown}: words.{name}", problems)
        if listed is not None:
            words[name] = listed
    lawful = _signs(data.get("lawful"), "lawful", True, shown, problems)
    suspect = _signs(data.get("suspect"), "suspect", False, shown, problems)
    financial = tuple(keywords.get("financial_institutions") or ())
    if not financial:
        problems.append(f"{folder.name}/{KEYWORDS_FILE}: financial_institutions: 缺少 / missing")
    if problems:
        raise RulePackInvalid(problems)
    assert isinstance(factor, (int, float)) and isinstance(min_payers, int)  # checked above
    return LookalikeRules(float(factor), int(min_payers), words, financial, lawful, suspect)


def _signs(given, section: str, lawful: bool, shown: str, problems: list[str]) -> tuple[Sign, ...]:
    if not isinstance(given, list) or not given:
        problems.append(f"{shown}: {section}: 应为非空列表 / must be a non-empty list")
        return ()
    signs = []
    for index, item in enumerate(given):
        where = f"{shown}: {section}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: 应为键值表 / expected a mapping")
            continue
        for key in ("id", "reason_zh", "reason_en", "when") + (("kind",) if lawful else ()):
            if not item.get(key):
                problems.append(f"{where}.{key}: 缺少 / missing")
        bounds: dict[str, tuple[float | None, float | None]] = {}
        for name, bound in (item.get("when") or {}).items():
            if name not in FEATURES:
                problems.append(f"{where}.when.{name}: 未知特征 / unknown feature (one of {', '.join(FEATURES)})")
                continue
            if not isinstance(bound, dict) or not bound or set(bound) - {"min", "max"}:
                problems.append(f"{where}.when.{name}: 应为 {{min: x, max: y}} / expected {{min: x, max: y}}")
                continue
            if not all(isinstance(v, (int, float)) for v in bound.values()):
                problems.append(f"{where}.when.{name}: 界限应为数字 / bounds must be numbers")
                continue
            bounds[name] = (bound.get("min"), bound.get("max"))
        for key in ("reason_zh", "reason_en"):
            try:
                str(item.get(key, "")).format(**{name: 0.5 for name in FEATURES})
            except (KeyError, ValueError, IndexError) as exc:
                problems.append(f"{where}.{key}: 格式无效 / invalid format string: {exc}")
        signs.append(
            Sign(
                str(item.get("id", "")),
                str(item.get("kind", "")),
                str(item.get("reason_zh", "")),
                str(item.get("reason_en", "")),
                bounds,
            )
        )
    return tuple(signs)


def ring_features(con: duckdb.DuckDBPyConnection, run_id: str, rules: LookalikeRules) -> dict[str, dict]:
    """ring id → its features (FEATURES) for every ring of the run."""
    cursor = con.execute(
        SQL,
        {
            "run_id": run_id,
            "wage_words": "|".join(rules.words["wages"]),
            "utility_words": "|".join(rules.words["utilities"]),
            "claim_words": "|".join(rules.words["claims"]),
            "financial_words": "|".join(rules.financial_words),
        },
    )
    names = [column[0] for column in cursor.description]
    found = {}
    for row in cursor.fetchall():
        record = dict(zip(names, row))
        features = {name: float(record[name] or 0) for name in FEATURES}
        features["payers"] = int(features["payers"])
        features["payouts"] = int(features["payouts"])
        found[record["ring_id"]] = features
    return found


def assess(features: dict, rules: LookalikeRules) -> Assessment:
    """The profile the money matches, the suspect signs it shows, and whether it is cleared."""
    result = Assessment(features=features)
    if features.get("payers", 0) < rules.min_payers:
        return result
    suspicions = [sign.reason(features) for sign in rules.suspect if sign.holds(features)]
    profile = next((sign for sign in rules.lawful if sign.holds(features)), None)
    if profile is not None:
        result.kind = profile.kind
        result.reasons.append(profile.reason(features))
    result.reasons += suspicions
    result.suspected = bool(suspicions)
    result.cleared = profile is not None and not suspicions
    return result


def assess_run(con: duckdb.DuckDBPyConnection, run_id: str, rules: LookalikeRules) -> dict[str, Assessment]:
    return {ring_id: assess(features, rules) for ring_id, features in ring_features(con, run_id, rules).items()}
