"""The one reader of ground truth, for the backtests and training: the generator's `truth/accounts.csv`
(account_no, scheme_id, typology, role, with `schemes.csv` beside it naming each scheme's kind and
`lookalikes.csv` naming the lawful look-alikes' accounts by kind), or a file
made by hand of account_no,label[,typology] where label 1 marks a scheme account.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pipelines.errors import BadFileError, NotFoundError

GENERATOR_COLUMNS = frozenset({"account_no", "scheme_id", "role"})
LABEL_COLUMNS = frozenset({"account_no", "label"})
PARTICIPANT_ROLES = frozenset({"investor", "participant"})
"""Roles of ordinary people who paid in: a participant's account is not a scheme account."""
CORE_ROLES = ("hub", "collector")
"""The accounts a scheme is found by: finding its hub or a collector counts as finding the scheme."""
YES = ("1", "true", "yes", "是")


@dataclass(frozen=True)
class TruthAccount:
    account_no: str
    positive: bool
    """A scheme account (any role but a participant's; label 1 in a file made by hand)."""
    typology: str = ""
    scheme_id: str = ""
    role: str = ""


@dataclass
class Truth:
    accounts: list[TruthAccount]
    by_scheme: bool
    """The generator's file: every account names its scheme and role, so rings can be judged too."""
    scheme_kind: dict[str, str] = field(default_factory=dict)
    """scheme id → kind (ponzi, coop …) from the schemes.csv beside the generator's file."""
    lookalike_kind: dict[str, str] = field(default_factory=dict)
    """account → look-alike kind (coop, care_home …) from the lookalikes.csv beside it: lawful, not schemes."""

    @cached_property
    def positives(self) -> set[str]:
        return {account.account_no for account in self.accounts if account.positive}

    @cached_property
    def scheme_core(self) -> dict[str, set[str]]:
        """scheme id → its hub and collector accounts."""
        core: dict[str, set[str]] = {}
        for account in self.accounts:
            if account.positive and account.role in CORE_ROLES:
                core.setdefault(account.scheme_id, set()).add(account.account_no)
        return core

    @cached_property
    def scheme_hub(self) -> dict[str, str]:
        """scheme id → its hub account (the generator's file names one per scheme)."""
        return {a.scheme_id: a.account_no for a in self.accounts if a.positive and a.role == "hub"}


def read_truth(path: str | Path) -> Truth:
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            rows = list(reader)
    except FileNotFoundError:
        raise NotFoundError(f"找不到真实答案文件 / truth file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFileError(path, f"无法读取 / cannot read: {exc}") from None
    if GENERATOR_COLUMNS <= columns:
        accounts = [_generator_account(row) for row in rows if _text(row, "account_no")]
        return Truth(
            accounts,
            by_scheme=True,
            scheme_kind=_scheme_kinds(path.with_name("schemes.csv")),
            lookalike_kind=_lookalike_kinds(path.with_name("lookalikes.csv")),
        )
    if LABEL_COLUMNS <= columns:
        accounts = [
            TruthAccount(_text(row, "account_no"), _text(row, "label").lower() in YES, _text(row, "typology"))
            for row in rows
            if _text(row, "account_no")
        ]
        return Truth(accounts, by_scheme=False)
    raise BadFileError(
        path,
        "应有 account_no,scheme_id,role 或 account_no,label,typology 列 / "
        "expected columns account_no,scheme_id,role or account_no,label,typology",
    )


def _text(row: dict, key: str) -> str:
    return (row.get(key) or "").strip()


def _generator_account(row: dict) -> TruthAccount:
    scheme_id, role = _text(row, "scheme_id"), _text(row, "role").lower()
    positive = bool(scheme_id) and role not in PARTICIPANT_ROLES
    return TruthAccount(_text(row, "account_no"), positive, _text(row, "typology"), scheme_id, role)


def _scheme_kinds(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {_text(row, "scheme_id"): _text(row, "kind") for row in csv.DictReader(handle)}


def _lookalike_kinds(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {_text(row, "account_no"): _text(row, "kind") for row in csv.DictReader(handle) if _text(row, "kind")}
