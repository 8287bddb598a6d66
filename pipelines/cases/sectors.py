"""The campaign's focus sectors (DOMAIN §0) and the words that tag a lead with them.

A lead is tagged from its accounts' holder names and the memos and purposes of its payments. The words are
data (rules/leads.yaml, sector_words): an office adds a word there without touching the code; labels live here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Sector:
    label_zh: str


# The words that tag a lead with each sector are data: rules/leads.yaml, sector_words (same codes).
SECTORS: dict[str, Sector] = {
    "elderly_care": Sector("养老"),
    "agriculture": Sector("涉农/合作社"),
    "fake_private_fund": Sector("伪私募/私募基金"),
    "fake_exchange": Sector("伪金交所"),
    "intermediary": Sector("民间投融资中介/理财"),
    "crowdfunding": Sector("股权众筹"),
    "trade_retail": Sector("商贸/批发零售"),
    "virtual_currency": Sector("虚拟货币/区块链"),
    "culture_tourism": Sector("文化旅游"),
    "film": Sector("影视"),
    "debt_resolution": Sector("解债"),
    "fake_soe": Sector("冒用国企/央企"),
    "property_rights": Sector("产权登记/拍卖"),
}


def sector_words(settings) -> dict[str, tuple[str, ...]]:
    """rules/leads.yaml's sector_words for the settings' rule folder."""
    from detectors.pack import load_lead_policy

    return load_lead_policy(settings.rules_dir).sector_words


def tag_sectors(texts: Iterable[str | None], words: dict[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """Sector codes found in the texts, in table order, and the keywords that matched; `words` is
    rules/leads.yaml's sector_words (publish.lead_policy checks its codes against SECTORS)."""
    joined = "\n".join(text for text in texts if text).upper()
    codes: list[str] = []
    matched: list[str] = []
    for code in SECTORS:
        hits = [word for word in words.get(code, ()) if word.upper() in joined]
        if hits:
            codes.append(code)
            matched.extend(word for word in hits if word not in matched)
    return codes, matched


def sector_labels(codes: Iterable[str]) -> str:
    return "、".join(SECTORS[code].label_zh if code in SECTORS else code for code in codes)
