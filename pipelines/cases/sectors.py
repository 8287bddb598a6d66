"""The campaign's focus sectors (DOMAIN §0) and the words that tag a lead with them.

A lead is tagged from its accounts' holder names and the memos and purposes of its payments. The table is
data: an office adds a word here without touching the matching code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Sector:
    label_zh: str
    keywords: tuple[str, ...]


SECTORS: dict[str, Sector] = {
    "elderly_care": Sector("养老", ("养老", "康养", "颐养", "敬老", "老年", "护理院", "旅居", "保健品")),
    "agriculture": Sector("涉农/合作社", ("合作社", "农业", "农民专业", "种植", "养殖", "农场", "涉农")),
    "fake_private_fund": Sector("伪私募/私募基金", ("私募", "基金", "股权投资", "资产管理", "投资管理", "资管")),
    "fake_exchange": Sector("伪金交所", ("金融资产交易", "金交所", "交易中心", "交易所")),
    "intermediary": Sector("民间投融资中介/理财", ("投融资", "理财", "财富管理", "投资咨询", "借贷", "融资担保")),
    "crowdfunding": Sector("股权众筹", ("众筹", "原始股", "股权认购")),
    "trade_retail": Sector("商贸/批发零售", ("商贸", "贸易", "批发", "零售", "超市", "电商")),
    "virtual_currency": Sector(
        "虚拟货币/区块链",
        ("虚拟币", "虚拟货币", "数字货币", "区块链", "比特币", "USDT", "泰达币", "挖矿", "矿机", "数字资产"),
    ),
    "culture_tourism": Sector("文化旅游", ("文旅", "旅游", "文化产业")),
    "film": Sector("影视", ("影视", "电影", "票房", "影业", "剧组")),
    "debt_resolution": Sector("解债", ("解债", "化债", "债务化解", "债务重组", "债务优化", "代偿")),
    "fake_soe": Sector("冒用国企/央企", ("央企", "国企", "国资", "中央企业", "国有", "国家项目", "扶贫项目")),
    "property_rights": Sector("产权登记/拍卖", ("产权登记", "产登", "拍卖", "艺术品")),
}


def tag_sectors(texts: Iterable[str | None]) -> tuple[list[str], list[str]]:
    """Sector codes found in the texts, in table order, and the keywords that matched."""
    joined = "\n".join(text for text in texts if text).upper()
    codes: list[str] = []
    matched: list[str] = []
    for code, sector in SECTORS.items():
        hits = [word for word in sector.keywords if word.upper() in joined]
        if hits:
            codes.append(code)
            matched.extend(word for word in hits if word not in matched)
    return codes, matched


def sector_labels(codes: Iterable[str]) -> str:
    return "、".join(SECTORS[code].label_zh if code in SECTORS else code for code in codes)
