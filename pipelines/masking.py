"""Masking (脱敏) of personal numbers wherever a person reads them (DOMAIN §4.3).

ID numbers keep the 6-digit region and the last 4; account and card numbers the first 6 and last 4;
phones the first 3 and last 4. Unmasking is decided by the caller (role + logged reason), never here.
"""

from __future__ import annotations


def _keep_ends(value: str | None, head: int, tail: int) -> str:
    if not value:
        return ""
    if len(value) <= head + tail:
        # Too short to keep both ends and still hide something: keep only the last 2.
        return "*" * max(len(value) - 2, 1) + value[-2:] if len(value) > 2 else "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_id(value: str | None) -> str:
    """`11010519491231002X` → `110105********002X`."""
    return _keep_ends(value, 6, 4)


def mask_account(value: str | None) -> str:
    """`6222021234567890128` → `622202*********0128`."""
    return _keep_ends(value, 6, 4)


def mask_phone(value: str | None) -> str:
    """`13812341234` → `138****1234`."""
    return _keep_ends(value, 3, 4)


ORGANISATION_MARKERS = (
    "公司",
    "合作社",
    "中心",
    "银行",
    "医院",
    "学校",
    "协会",
    "商店",
    "超市",
    "厂",
    "部",
    "所",
    "社",
)


def mask_name(value: str | None) -> str:
    """`张三` → `张*`, `张小明` → `张*明`, `欧阳小明` → `欧**明`; organisation names are not personal data."""
    if not value:
        return ""
    if len(value) > 5 or any(marker in value for marker in ORGANISATION_MARKERS):
        return value
    if len(value) == 1:
        return "*"  # a one-character name kept with a star would still show the whole name
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_lead(lead: dict) -> dict:
    """A copy of a lead (as `CaseStore.get_lead` or `list_leads` give it) with personal numbers masked."""
    shown = dict(lead)
    shown["subject_id_no"] = mask_id(lead.get("subject_id_no"))
    shown["hub_account"] = mask_account(lead.get("hub_account"))
    if lead.get("subject_kind") == "PERSON":
        shown["subject_name"] = mask_name(lead.get("subject_name"))
    if "accounts" in lead:
        shown["accounts"] = [
            _mask_party(a, "account_no", "account_name", "holder_kind")
            | {"holder_id_no": mask_id(a.get("holder_id_no"))}
            for a in lead["accounts"]
        ]
        numbers = {a["account_no"] for a in lead["accounts"]}
        shown["alerts"] = [
            a
            | {
                "subject": mask_account(a["subject"])
                if a["subject"] in numbers or a["subject"].isdigit()
                else a["subject"]
            }
            for a in lead["alerts"]
        ]
        shown["payments"] = [
            _mask_party(
                _mask_party(p, "payer_account", "payer_name", "payer_kind"), "payee_account", "payee_name", "payee_kind"
            )
            for p in lead["payments"]
        ]
    return shown


def _mask_party(row: dict, account: str, name: str, kind: str) -> dict:
    masked = dict(row)
    masked[account] = mask_account(row.get(account)) if row.get(account) else None
    if row.get(kind) == "PERSON":
        masked[name] = mask_name(row.get(name))
    return masked
