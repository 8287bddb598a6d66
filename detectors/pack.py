"""Loading the rule pack (`rules/`): one YAML file per rule plus `keywords.yaml`, checked as a whole.

Every problem is collected before anything is refused, each as `path: field: message`, so an office fixing
its pack sees all of them at once. The pack's content hash is stored with every run and alert.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from detectors.base import Rule

KEYWORDS_FILE = "keywords.yaml"
LEADS_FILE = "leads.yaml"
"""The lead-opening rule, priority marks and focus-sector words: thresholds of publishing, not a detector."""
LOOKALIKES_FILE = "lookalikes.yaml"
"""Lawful look-alike profiles and suspect signs (detectors/lookalikes.py): read when publishing, not a detector."""
RULE_KEYS = ("id", "detector", "typology", "title_zh", "title_en", "weight", "version", "source", "params")
SHARED_LISTS = ("memo_keywords", "financial_institutions")
"""Lists in keywords.yaml; a detector whose Params has a field of the same name gets the list there."""
SETTINGS_FIELDS = ("home_region",)
"""Params fields filled by the runner from settings (the office's county), never set in a rule file."""


class RulePackInvalid(Exception):
    """The pack cannot be used; `problems` lists every one as 'path: field: message'."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class LeadPolicy:
    """rules/leads.yaml: when a ring opens a lead, and which marks a lead gets."""

    opening_rules: tuple[str, ...]
    """A lead opens on one of these rules' hits (rule ids)."""
    opening_other_hits: int
    """…plus this many other rules' hits (rules)."""
    opening_min_amount_cny: float
    """…with at least this much involved (yuan)."""
    opening_many_rules: int
    """…or, without an opening rule, hits of at least this many distinct rules that are not shapes, with the
    same amount (rules; 0: off)."""
    opening_shape_rules: tuple[str, ...]
    """Rules that describe only a shape or an anomaly: not counted for opening_many_rules (rule ids)."""
    opening_public_rules: int
    """…or this many such rules when the ring gathers from at least opening_public_min_payers individuals, with
    the same amount (rules; 0: off)."""
    opening_public_min_payers: int
    """Individuals paying into the ring's core that make it fundraising from the public (社会性) (persons)."""
    opening_network_collectors: int
    """A collector network with at least this many collectors (a ring note of detectors.rings) is a hit of an
    opening rule: T1's scatter-in, concentrate-out spread over the collectors (accounts; 0: off)."""
    opening_structuring_counterparties: int
    """T14 structuring into a core account by at least this many counterparties is a hit of an opening rule:
    several people told to split their payments under the reporting threshold (counterparties; 0: off)."""
    major_amount_cny: float
    """From this amount a lead is marked 亿元以上 (yuan)."""
    cross_province_min: int
    """Participants from at least this many provinces mark it 跨省 (provinces)."""
    many_elderly_count: int
    """This many participants aged 60+ mark it 涉老年人多 (persons)…"""
    many_elderly_share: float
    """…or this share of its participants (fraction)…"""
    many_elderly_share_min_payers: int
    """…once it has at least this many participants (persons)."""
    sector_words: dict[str, tuple[str, ...]]
    """Focus-sector code → the words that tag a lead with it."""


LEAD_FIELDS = {
    "opening": {
        "rules": list,
        "other_hits": int,
        "min_amount_cny": float,
        "many_rules": int,
        "shape_rules": list,
        "public_rules": int,
        "public_min_payers": int,
        "network_collectors": int,
        "structuring_counterparties": int,
    },
    "priority": {
        "major_amount_cny": float,
        "cross_province_min": int,
        "many_elderly_count": int,
        "many_elderly_share": float,
        "many_elderly_share_min_payers": int,
    },
}


@dataclass(frozen=True)
class RulePack:
    rules: tuple[Rule, ...]
    keywords: tuple[str, ...]
    """Memo keywords (regular expressions) from keywords.yaml."""
    content_hash: str
    """sha256 over the pack's YAML files, sorted by name."""
    leads: LeadPolicy | None = None
    """rules/leads.yaml."""

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.rule_id == rule_id:
                return rule
        raise KeyError(rule_id)


def load_rule_pack(folder: str | Path) -> RulePack:
    """Read and check the whole pack; raise `RulePackInvalid` listing every problem."""
    from detectors import DETECTORS

    folder = Path(folder)
    problems: list[str] = []
    if not folder.is_dir():
        raise RulePackInvalid([f"{folder}: 规则目录不存在 / rule folder not found"])
    files = sorted(path for path in folder.glob("*.yaml"))
    shared = _load_shared_lists(folder / KEYWORDS_FILE, problems)
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in files:
        if path.name in (KEYWORDS_FILE, LEADS_FILE, LOOKALIKES_FILE):
            continue
        rule = _load_rule(path, DETECTORS, shared, problems)
        if rule is None:
            continue
        if rule.rule_id in seen:
            problems.append(
                f"{_shown(path)}: id: 规则编号重复 / duplicate rule id '{rule.rule_id}' (also in {seen[rule.rule_id]})"
            )
            continue
        seen[rule.rule_id] = _shown(path)
        rules.append(rule)
    if not rules and not problems:
        problems.append(f"{folder}: 没有规则文件 / no rule files (*.yaml)")
    # a partial pack (one rule to try) may leave leads.yaml out; publishing asks for it (load_lead_policy)
    # its opening rules are checked against the pack's rule ids only once every rule file loaded
    rule_ids = None if problems else set(seen)
    policy = _load_lead_policy(folder / LEADS_FILE, rule_ids, problems) if (folder / LEADS_FILE).exists() else None
    if problems:
        raise RulePackInvalid(problems)
    return RulePack(
        rules=tuple(rules),
        keywords=shared.get("memo_keywords", ()),
        content_hash=_content_hash(files),
        leads=policy,
    )


def load_lead_policy(folder: str | Path) -> LeadPolicy:
    """rules/leads.yaml of a whole pack, checked with the pack (its opening rules must be the pack's rules)."""
    pack = load_rule_pack(folder)
    if pack.leads is None:
        raise RulePackInvalid([f"{Path(folder).name}/{LEADS_FILE}: 文件缺失 / file missing"])
    return pack.leads


def _load_lead_policy(path: Path, rule_ids: set[str] | None, problems: list[str]) -> LeadPolicy | None:
    data = _read_yaml(path, problems)
    if data is None:
        return None
    shown = _shown(path)
    if not isinstance(data, dict):
        problems.append(f"{shown}: 应为键值表 / expected a mapping")
        return None
    for key in data:
        if key not in (*LEAD_FIELDS, "sector_words"):
            known = (*LEAD_FIELDS, "sector_words")
            problems.append(f"{shown}: {key}: 未知项 / unknown key '{key}'{_did_you_mean(key, known)}")
    values: dict[str, Any] = {}
    for section, fields in LEAD_FIELDS.items():
        given = data.get(section)
        if not isinstance(given, dict):
            problems.append(f"{shown}: {section}: 缺少或不是键值表 / missing or not a mapping")
            continue
        for key in given:
            if key not in fields:
                problems.append(f"{shown}: {section}.{key}: 未知参数 / unknown field{_did_you_mean(key, fields)}")
        for key, kind in fields.items():
            value = given.get(key)
            if value is None:
                problems.append(f"{shown}: {section}.{key}: 缺少 / missing")
            elif kind is list:
                if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
                    problems.append(f"{shown}: {section}.{key}: 应为规则编号列表 / must be a list of rule ids")
                else:
                    for rule_id in value:
                        if rule_ids is not None and rule_id not in rule_ids:
                            problems.append(
                                f"{shown}: {section}.{key}: 未知规则 / unknown rule '{rule_id}'"
                                f"{_did_you_mean(rule_id, rule_ids)}"
                            )
                    values[f"{section}_{key}" if section == "opening" else key] = tuple(value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                problems.append(f"{shown}: {section}.{key}: 应为非负数 / must be a non-negative number, got {value!r}")
            elif kind is int and not isinstance(value, int):
                problems.append(f"{shown}: {section}.{key}: 应为整数 / must be an integer, got {value!r}")
            else:
                values[f"{section}_{key}" if section == "opening" else key] = kind(value)
    words = data.get("sector_words")
    sector_words: dict[str, tuple[str, ...]] = {}
    if not isinstance(words, dict) or not words:
        problems.append(f"{shown}: sector_words: 应为领域到词语列表的键值表 / must map sector codes to word lists")
    else:
        for code, listed in words.items():
            if not isinstance(listed, list) or not listed or not all(isinstance(w, str) and w for w in listed):
                problems.append(f"{shown}: sector_words.{code}: 应为非空的词语列表 / must be a non-empty list of words")
            else:
                sector_words[str(code)] = tuple(listed)
    if values.get("many_elderly_share", 0) > 1:
        problems.append(f"{shown}: priority.many_elderly_share: 应在 0 到 1 之间 / must be between 0 and 1")
    try:
        return LeadPolicy(**values, sector_words=sector_words)
    except TypeError:
        return None  # its problems are listed already


def _shown(path: Path) -> str:
    """Paths in messages read as 'rules/t1_fan_in.yaml': the folder and the file."""
    return f"{path.parent.name}/{path.name}"


def _content_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# libyaml's parser where PyYAML is built with it (its wheels are): the same data, about 7 times faster to read.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """A YAML document as plain data (the safe loader: no object tags); how every rule file is read."""
    return yaml.load(text, Loader=YAML_LOADER)


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{_shown(path)}: 文件缺失 / file missing")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{_shown(path)}: 无法读取 / unreadable: {exc}")
    except yaml.YAMLError as exc:
        problems.append(f"{_shown(path)}: YAML 格式错误 / invalid YAML: {' '.join(str(exc).split())}")
    return None


def _load_shared_lists(path: Path, problems: list[str]) -> dict[str, tuple[str, ...]]:
    data = _read_yaml(path, problems)
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{_shown(path)}: 应为键值表 / expected a mapping of lists")
        return {}
    lists: dict[str, tuple[str, ...]] = {}
    for key in data:
        if key not in SHARED_LISTS:
            problems.append(f"{_shown(path)}: {key}: 未知列表 / unknown list '{key}'{_did_you_mean(key, SHARED_LISTS)}")
    for key in SHARED_LISTS:
        words = check_words(data.get(key), f"{_shown(path)}: {key}", problems)
        if words is not None:
            lists[key] = words
    return lists


def check_words(words: Any, where: str, problems: list[str]) -> tuple[str, ...] | None:
    """A rules file's list of words (regular expressions): None when it is not a non-empty list of text; every
    problem is added under `where` (file and field)."""
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
        problems.append(f"{where}: 应为非空的文字列表 / must be a non-empty list of words")
        return None
    for word in words:
        try:
            re.compile(word)
        except re.error as exc:
            problems.append(f"{where}: 正则无效 / invalid regular expression '{word}': {exc}")
    return tuple(words)


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f". Did you mean {close[0]}?" if close else ""


def _load_rule(path: Path, detectors: dict, shared: dict, problems: list[str]) -> Rule | None:
    shown = _shown(path)
    data = _read_yaml(path, problems)
    if data is None:
        if path.exists() and not any(p.startswith(shown) for p in problems):
            problems.append(f"{shown}: 文件为空 / empty file")
        return None
    if not isinstance(data, dict):
        problems.append(f"{shown}: 应为键值表 / expected a mapping")
        return None
    before = len(problems)
    for key in data:
        if key not in RULE_KEYS:
            problems.append(f"{shown}: {key}: 未知字段 / unknown key '{key}'{_did_you_mean(key, RULE_KEYS)}")
    for key in RULE_KEYS:
        if key not in data:
            problems.append(f"{shown}: {key}: 缺少字段 / missing key")
    for key in ("id", "detector", "typology", "title_zh", "title_en", "source"):
        if key in data and not (isinstance(data[key], str) and data[key].strip()):
            problems.append(f"{shown}: {key}: 应为非空文字 / must be non-empty text")
    if "version" in data and not isinstance(data["version"], (str, int)):
        problems.append(f'{shown}: version: 应为文字 / must be text such as "1"')
    weight = data.get("weight")
    if "weight" in data and (isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0):
        problems.append(f"{shown}: weight: 应为正数 / must be a positive number")
    module = None
    name = data.get("detector")
    if isinstance(name, str) and name:
        module = detectors.get(name)
        if module is None:
            problems.append(
                f"{shown}: detector: 未知检测器 / unknown detector '{name}'{_did_you_mean(name, detectors)}"
            )
    typology = data.get("typology")
    if (
        module is not None
        and isinstance(typology, str)
        and typology != module.TYPOLOGY
        and getattr(module, "STAGE", "") == "sweep"
    ):
        problems.append(
            f"{shown}: typology: 检测器 {name} 的手法是 {module.TYPOLOGY} / "
            f"detector '{name}' finds typology '{module.TYPOLOGY}', not '{typology}'"
        )
    params = None
    if module is not None and "params" in data:
        params = _build_params(shown, module.Params, data["params"], shared, problems)
    if len(problems) > before or params is None:
        return None
    # Every check above appends a problem unless detector, typology and weight hold the right types.
    assert isinstance(name, str) and isinstance(typology, str) and isinstance(weight, (int, float))
    return Rule(
        rule_id=data["id"].strip(),
        detector=name,
        typology=typology,
        title_zh=data["title_zh"],
        title_en=data["title_en"],
        weight=float(weight),
        version=str(data["version"]),
        source=data["source"],
        params=params,
        path=shown,
    )


def _build_params(shown: str, params_class: type, given: Any, shared: dict, problems: list[str]) -> Any:
    if not isinstance(given, dict):
        problems.append(f"{shown}: params: 应为键值表 / expected a mapping")
        return None
    hints = typing.get_type_hints(params_class)
    fields = [field.name for field in dataclasses.fields(params_class)]
    from_file = [name for name in fields if name not in SHARED_LISTS and name not in SETTINGS_FIELDS]
    values: dict[str, Any] = {}
    before = len(problems)
    for key, value in given.items():
        if key in SHARED_LISTS:
            problems.append(f"{shown}: params.{key}: 在 {KEYWORDS_FILE} 中设置 / set in {KEYWORDS_FILE}, not here")
        elif key in SETTINGS_FIELDS:
            problems.append(
                f"{shown}: params.{key}: 由系统设置提供 / comes from the settings (FUNDFLOW_COUNTY), not the rule file"
            )
        elif key not in fields:
            problems.append(
                f"{shown}: params.{key}: 未知参数 / unknown parameter '{key}'{_did_you_mean(key, from_file)}"
            )
        else:
            checked = _checked_value(value, hints[key])
            if checked is None:
                problems.append(f"{shown}: params.{key}: 类型错误 / expected {_type_name(hints[key])}, got {value!r}")
            elif isinstance(checked, (int, float)) and checked < 0:
                problems.append(f"{shown}: params.{key}: 不能为负 / must not be negative, got {value!r}")
            else:
                values[key] = checked
    for name in from_file:
        if name not in given:
            problems.append(f"{shown}: params.{name}: 缺少参数 / missing parameter")
    if "window_days" in values and values["window_days"] < 1:
        problems.append(f"{shown}: params.window_days: 至少 1 天 / must be at least 1")
    for name in fields:
        if name in SHARED_LISTS:
            values[name] = shared.get(name, ())
        elif name in SETTINGS_FIELDS:
            values[name] = ""
    if len(problems) > before:
        return None
    return params_class(**values)


def _checked_value(value: Any, expected: Any) -> Any:
    """The value converted to the field's type, or None when it does not fit."""
    if isinstance(value, bool) and expected is not bool:
        return None
    if expected is bool:
        return value if isinstance(value, bool) else None
    if expected is int:
        return value if isinstance(value, int) else None
    if expected is float:
        return float(value) if isinstance(value, (int, float)) else None
    if expected is str:
        return value if isinstance(value, str) else None
    if typing.get_origin(expected) is tuple:
        item_type = typing.get_args(expected)[0]
        if not isinstance(value, list):
            return None
        items = [_checked_value(item, item_type) for item in value]
        return None if any(item is None for item in items) else tuple(items)
    return None


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) is tuple:
        return f"a list of {_type_name(typing.get_args(expected)[0])}"
    return {int: "a whole number", float: "a number", str: "text", bool: "true or false"}.get(expected, str(expected))


def rule_order(rule_id: str) -> tuple[str, int]:
    """Sort key for rule ids: T2 before T10 (letter, then number)."""
    digits = "".join(ch for ch in rule_id if ch.isdigit())
    return (rule_id.rstrip("0123456789"), int(digits) if digits else 0)
