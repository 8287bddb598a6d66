"""The people, organisations, banks and accounts of a synthetic county, held as numpy arrays.

Persons have an age pyramid with a good share aged 60+, resident IDs consistent with their age and
region (mostly the home county, some from elsewhere in the province or other provinces); organisations
have valid credit codes; accounts sit at reporting banks (the county's) or outside banks (not reporting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from data_samples.synth import codes

AGE_BANDS = (
    (18, 30, 0.15),
    (30, 40, 0.16),
    (40, 50, 0.17),
    (50, 60, 0.18),
    (60, 70, 0.17),
    (70, 80, 0.11),
    (80, 96, 0.06),
)
PROVINCE_OTHER_REGIONS = (
    330102,
    330106,
    330110,
    330203,
    330212,
    330302,
    330402,
    330502,
    330602,
    330702,
    330703,
    330781,
    330783,
    330784,
    331002,
    331102,
)
OTHER_PROVINCE_REGIONS = (
    360102,
    360731,
    340102,
    341202,
    410102,
    411302,
    520102,
    522401,
    510104,
    511302,
    430102,
    431102,
    420102,
    350102,
    450102,
    530102,
    620102,
    230102,
)
OCCUPATIONS = ("职员", "工人", "农民", "个体工商户", "教师", "医生", "退休人员", "无业", "自由职业")


@dataclass(frozen=True)
class Bank:
    code: str
    """Reporting-institution code (14 characters, JR/T 0124 shape)."""
    name: str
    cnaps: str
    """12-digit payment-system bank code, written as the counterparty institution."""
    bin: int
    corp_prefix: str
    reporting: bool


ORG_KINDS = (
    "employer",
    "merchant",
    "supermarket",
    "wholesaler",
    "school",
    "hospital",
    "utility",
    "social",
    "wealth",
    "developer",
    "supplier",
    "scheme",
    # lawful look-alikes (lookalikes.py), appended so the older kinds keep their numbers
    "coop",
    "care_home",
    "insurer",
    "bank_product",
    "big_merchant",
    "head_office",
    "market",
)
KIND = {name: number for number, name in enumerate(ORG_KINDS)}
INDUSTRY = {
    "employer": "制造业",
    "merchant": "零售业",
    "supermarket": "零售业",
    "wholesaler": "批发业",
    "school": "教育",
    "hospital": "卫生和社会工作",
    "utility": "电力、热力、燃气及水生产和供应业",
    "social": "公共管理和社会组织",
    "wealth": "金融业",
    "developer": "房地产业",
    "supplier": "制造业",
    "scheme": "租赁和商务服务业",
    "coop": "农业",
    "care_home": "卫生和社会工作",
    "insurer": "金融业",
    "bank_product": "金融业",
    "big_merchant": "零售业",
    "head_office": "金融业",
    "market": "批发业",
}


def county_name(county_code: str) -> str:
    return "义乌市" if county_code == "330782" else "本县"


def make_banks(county_code: str) -> list[Bank]:
    place = county_name(county_code)
    spec = (
        ("102", "中国工商银行", 622202, "1208"),
        ("103", "中国农业银行", 622848, "1962"),
        ("104", "中国银行", 621661, "3661"),
        ("105", "中国建设银行", 621700, "3305"),
        ("403", "中国邮政储蓄银行", 621799, "9330"),
        ("314", "浙江义乌农村商业银行", 623091, "2010"),
    )
    banks = [
        Bank(
            f"C{int(cat):04d}{county_code}001",
            f"{name}{place}{'支行' if cat == '314' else '分行'}",
            f"{cat}3387{index + 1:04d}{(int(cat) + index) % 10}",
            bin_,
            prefix,
            True,
        )
        for index, (cat, name, bin_, prefix) in enumerate(spec)
    ]
    banks += [
        Bank("C0105360100001", "中国建设银行南昌分行", "105421000017", 621700, "3605", False),
        Bank("C0103340100001", "中国农业银行合肥分行", "103361000025", 622848, "1260", False),
    ]
    return banks


def _empty_array() -> np.ndarray:
    return np.empty(0)


@dataclass
class County:
    """The generated population; `generator.py` fills the arrays and tables step by step after creating it."""

    start: date
    days: int
    county_code: str
    banks: list[Bank]
    # persons (index p)
    age: np.ndarray = field(default_factory=_empty_array)
    region: np.ndarray = field(default_factory=_empty_array)
    outsider: np.ndarray = field(default_factory=_empty_array)
    """Lives outside the county; banks outside; appears only as a scheme investor or a relative."""
    night: np.ndarray = field(default_factory=_empty_array)
    occupation: np.ndarray = field(default_factory=_empty_array)
    household: np.ndarray = field(default_factory=_empty_array)
    person_name: pl.Series = field(default_factory=pl.Series)
    person_id: pl.Series = field(default_factory=pl.Series)
    person_phone: pl.Series = field(default_factory=pl.Series)
    # organisations (index o)
    org_kind: np.ndarray = field(default_factory=_empty_array)
    org_region: np.ndarray = field(default_factory=_empty_array)
    org_legal_rep: np.ndarray = field(default_factory=_empty_array)
    org_names: list = field(default_factory=list)
    org_prefix: list = field(default_factory=list)
    org_id: pl.Series = field(default_factory=pl.Series)
    # accounts (index a)
    acct_bank: np.ndarray = field(default_factory=_empty_array)
    acct_is_org: np.ndarray = field(default_factory=_empty_array)
    acct_holder: np.ndarray = field(default_factory=_empty_array)
    acct_opened: np.ndarray = field(default_factory=_empty_array)
    acct_active_from: np.ndarray = field(default_factory=_empty_array)
    person_acct1: np.ndarray = field(default_factory=_empty_array)
    person_acct2: np.ndarray = field(default_factory=_empty_array)
    org_acct: np.ndarray = field(default_factory=_empty_array)
    acct_table: pl.DataFrame = field(default_factory=pl.DataFrame)
    """One row per account plus a last row of nulls (cash: no counterparty): the strings a report line shows."""

    @property
    def n_persons(self) -> int:
        return len(self.age)

    @property
    def residents(self) -> np.ndarray:
        return np.flatnonzero(~self.outsider)

    def orgs_of(self, *kinds: str) -> np.ndarray:
        return np.flatnonzero(np.isin(self.org_kind, [KIND[kind] for kind in kinds]))

    def reporting(self) -> np.ndarray:
        return np.array([bank.reporting for bank in self.banks])


def make_persons(county: County, rng: np.random.Generator, n_residents: int, n_outsiders: int) -> None:
    n = n_residents + n_outsiders
    band = rng.choice(len(AGE_BANDS), size=n, p=[weight for _, _, weight in AGE_BANDS])
    low = np.array([lo for lo, _, _ in AGE_BANDS])[band]
    high = np.array([hi for _, hi, _ in AGE_BANDS])[band]
    age = rng.integers(low, high)
    start = np.datetime64(county.start, "D")
    # birthday between one and 364 days past the age's anniversary keeps the age exact at the start date
    years_back = (start.astype("datetime64[Y]").astype(int) + 1970) - age
    anniversary = (years_back - 1970).astype("datetime64[Y]").astype("datetime64[D]") + (
        start - start.astype("datetime64[Y]").astype("datetime64[D]")
    )
    birth = anniversary - rng.integers(1, 365, size=n)
    outsider = np.zeros(n, dtype=bool)
    outsider[n_residents:] = True
    where = rng.random(n)
    home = int(county.county_code)
    province = np.array(PROVINCE_OTHER_REGIONS)[rng.integers(0, len(PROVINCE_OTHER_REGIONS), size=n)]
    other = np.array(OTHER_PROVINCE_REGIONS)[rng.integers(0, len(OTHER_PROVINCE_REGIONS), size=n)]
    region = np.where(
        outsider,
        np.where(where < 0.35, province, other),
        np.where(where < 0.75, home, np.where(where < 0.90, province, other)),
    )
    # sequence numbers unique within (region, birth date); odd = male, even = female
    key = region.astype(np.int64) * 100_000 + birth.astype(np.int64)
    order = np.lexsort((rng.random(n), key))
    sorted_key = key[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    rank_sorted = np.arange(n) - np.repeat(group_start, np.diff(np.r_[group_start, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    seq = 2 * (rank + key % 300) + 1 + (rng.random(n) < 0.5)
    county.age = age
    county.region = region
    county.outsider = outsider
    county.night = (rng.random(n) < 0.01) & ~outsider & (age < 60)
    occupation = rng.choice([0, 1, 2, 3, 7, 8], size=n, p=[0.3, 0.3, 0.12, 0.14, 0.06, 0.08])
    county.occupation = np.where(age >= 60, 6, occupation)
    county.person_id = codes.resident_ids(region, birth, seq)
    county.person_name = codes.person_names(rng, n)
    county.person_phone = codes.phones(rng, n)
    # households: consecutive runs of 1–5 residents in a random order
    perm = rng.permutation(n_residents)
    sizes = rng.choice([1, 2, 3, 4, 5], size=n_residents, p=[0.2, 0.3, 0.25, 0.15, 0.1])
    starts = np.cumsum(sizes)
    starts = starts[starts < n_residents]
    household_of_sorted = np.zeros(n_residents, dtype=np.int64)
    household_of_sorted[starts] = 1
    household = np.full(n, -1, dtype=np.int64)
    household[perm] = np.cumsum(household_of_sorted)
    county.household = household


def org_counts(n_orgs: int) -> dict[str, int]:
    counts = {
        "school": max(2, n_orgs * 4 // 100),
        "hospital": max(1, n_orgs * 2 // 100),
        "supermarket": max(2, n_orgs * 3 // 100),
        "wholesaler": max(2, n_orgs * 8 // 100),
        "developer": max(1, n_orgs // 100),
        "supplier": max(3, n_orgs * 5 // 100),
        "merchant": max(4, n_orgs * 30 // 100),
        "utility": 3,
        "social": 1,
    }
    counts["employer"] = max(4, n_orgs - sum(counts.values()))
    return counts


def add_orgs(
    county: County,
    rng: np.random.Generator,
    kinds: list[str],
    names: list[str],
    prefixes: list[str],
    regions: np.ndarray,
    legal_reps: np.ndarray,
) -> np.ndarray:
    """Append organisations; returns their indices."""
    first = len(county.org_kind)
    new_ids = codes.credit_codes(rng, prefixes, regions)
    kind_numbers = np.array([KIND[kind] for kind in kinds], dtype=np.int64)
    if first == 0:
        county.org_kind, county.org_region, county.org_legal_rep = kind_numbers, regions, legal_reps
        county.org_id = new_ids
    else:
        county.org_kind = np.r_[county.org_kind, kind_numbers]
        county.org_region = np.r_[county.org_region, regions]
        county.org_legal_rep = np.r_[county.org_legal_rep, legal_reps]
        county.org_id = pl.concat([county.org_id, new_ids])
    county.org_names += names
    county.org_prefix += prefixes
    return np.arange(first, first + len(kinds))


def make_orgs(county: County, rng: np.random.Generator, n_orgs: int) -> None:
    place = county_name(county.county_code)
    counts = org_counts(n_orgs)
    kinds: list[str] = []
    names: list[str] = []
    prefixes: list[str] = []
    shop_words = ("便利店", "餐馆", "水果店", "服装店", "面馆", "理发店", "五金店", "药店", "母婴店", "早餐店")
    products = ("服饰", "针织", "五金", "电子", "塑料制品", "包装", "工艺品", "饰品", "日用品", "物流", "文具", "玩具")
    school_words = (
        "实验小学",
        "第二小学",
        "城西小学",
        "第一中学",
        "稠州中学",
        "中心幼儿园",
        "职业技术学校",
        "外国语学校",
    )
    hospital_words = ("中心医院", "中医院", "妇幼保健院", "第二人民医院", "城西卫生院")
    for kind, count in counts.items():
        labels = codes.brands(rng, count)
        for index, brand in enumerate(labels):
            if kind == "employer":
                name, prefix = f"{place}{brand}{products[index % len(products)]}有限公司", "91"
            elif kind == "merchant":
                name, prefix = f"{place}{brand}{shop_words[index % len(shop_words)]}", "92"
            elif kind == "supermarket":
                name, prefix = f"{place}{brand}超市有限公司", "91"
            elif kind == "wholesaler":
                name, prefix = f"{place}{brand}商贸有限公司" if index % 2 else f"{place}{brand}小商品批发商行", "91"
            elif kind == "school":
                name, prefix = (
                    f"{place}{school_words[index % len(school_words)]}"
                    + ("" if index < len(school_words) else f"{index // len(school_words) + 1}分校"),
                    "12",
                )
            elif kind == "hospital":
                name, prefix = (
                    f"{place}{hospital_words[index % len(hospital_words)]}"
                    + ("" if index < len(hospital_words) else f"{index // len(hospital_words) + 1}院区"),
                    "12",
                )
            elif kind == "utility":
                name = (f"国网{place}供电公司", f"{place}水务集团有限公司", f"{place}天然气有限公司")[index]
                prefix = "91"
            elif kind == "social":
                name, prefix = f"{place}社会保险事业管理中心", "11"
            elif kind == "developer":
                name, prefix = f"{place}{brand}房地产开发有限公司", "91"
            else:
                name, prefix = f"{brand}{products[index % len(products)]}制造有限公司", "91"
            kinds.append(kind)
            names.append(name)
            prefixes.append(prefix)
    for bank in county.banks:
        if bank.reporting:
            kinds.append("wealth")
            names.append(f"{bank.name}理财资金专户")
            prefixes.append("91")
    n = len(kinds)
    home = int(county.county_code)
    regions = np.full(n, home)
    supplier = np.array([kind == "supplier" for kind in kinds])
    regions[supplier] = np.array(PROVINCE_OTHER_REGIONS)[
        rng.integers(0, len(PROVINCE_OTHER_REGIONS), size=supplier.sum())
    ]
    adults = county.residents[(county.age[county.residents] >= 28) & (county.age[county.residents] <= 65)]
    legal_reps = rng.choice(adults, size=n)
    add_orgs(county, rng, kinds, names, prefixes, regions, legal_reps)


def make_accounts(
    county: County,
    rng: np.random.Generator,
    force_two: np.ndarray,
    extra_person_accounts: list[tuple[int, int, int]],
    org_opened: dict[int, int],
) -> np.ndarray:
    """Open every account. `force_two` persons get accounts at two banks (controllers);
    `extra_person_accounts` are (person, bank, opened day) of new accounts opened for a scheme;
    `org_opened` gives the opening day of organisations founded for a scheme.
    Returns the account indices of the extra accounts, in order."""
    n_persons, n_orgs = county.n_persons, len(county.org_kind)
    reporting = np.flatnonzero(county.reporting())
    external = np.flatnonzero(~county.reporting())
    bank_weights = np.array([0.2, 0.18, 0.12, 0.16, 0.12, 0.22])[: len(reporting)]
    bank_weights = bank_weights / bank_weights.sum()
    bank1 = np.where(
        county.outsider, rng.choice(external, size=n_persons), rng.choice(reporting, size=n_persons, p=bank_weights)
    )
    has_two = ~county.outsider & (rng.random(n_persons) < 0.35)
    has_two[force_two] = True
    shift = rng.integers(1, len(reporting), size=n_persons)
    bank2 = reporting[(np.searchsorted(reporting, bank1) + shift) % len(reporting)]
    holders2 = np.flatnonzero(has_two)
    org_bank = rng.choice(reporting, size=n_orgs, p=bank_weights)
    suppliers = county.org_kind == KIND["supplier"]
    org_bank[suppliers] = rng.choice(external, size=suppliers.sum())
    wealth = np.flatnonzero(county.org_kind == KIND["wealth"])
    org_bank[wealth] = reporting[: len(wealth)]
    extra = np.array(extra_person_accounts, dtype=np.int64).reshape(-1, 3)

    bank = np.r_[bank1, bank2[holders2], org_bank, extra[:, 1]]
    is_org = np.r_[np.zeros(n_persons + len(holders2), bool), np.ones(n_orgs, bool), np.zeros(len(extra), bool)]
    holder = np.r_[np.arange(n_persons), holders2, np.arange(n_orgs), extra[:, 0]]
    n_accounts = len(bank)
    opened = -rng.integers(30, 15 * 365, size=n_accounts)
    active_from = opened.copy()
    background = np.arange(n_persons + len(holders2))
    fresh = background[rng.random(len(background)) < 0.03]
    opened[fresh] = rng.integers(0, max(1, county.days), size=len(fresh))
    active_from[fresh] = opened[fresh]
    dormant = background[rng.random(len(background)) < 0.02]
    active_from[dormant] = rng.integers(
        county.days * 3 // 10, max(county.days * 8 // 10, county.days * 3 // 10 + 1), size=len(dormant)
    )
    first_extra = n_accounts - len(extra)
    opened[first_extra:] = extra[:, 2]
    active_from[first_extra:] = extra[:, 2]
    county.acct_bank, county.acct_is_org, county.acct_holder = bank, is_org, holder
    county.acct_opened, county.acct_active_from = opened, active_from
    county.person_acct1 = np.arange(n_persons)
    county.person_acct2 = np.full(n_persons, -1)
    county.person_acct2[holders2] = n_persons + np.arange(len(holders2))
    county.org_acct = n_persons + len(holders2) + np.arange(n_orgs)
    for org, day in org_opened.items():
        opened[county.org_acct[org]] = day
        active_from[county.org_acct[org]] = day
    build_account_table(county)
    return np.arange(first_extra, n_accounts)


def append_accounts(
    county: County, rng: np.random.Generator, orgs: np.ndarray, second_for: np.ndarray, org_bank: np.ndarray
) -> None:
    """Open accounts after `make_accounts` without redrawing any earlier one: for organisations added later
    (at `org_bank`) and second accounts for persons who lack one. Account numbers come from the index, so every
    earlier account keeps its number."""
    first = len(county.acct_bank)
    reporting = np.flatnonzero(county.reporting())
    second_for = np.array([p for p in second_for if county.person_acct2[p] < 0], dtype=np.int64)
    bank2 = rng.choice(reporting, size=len(second_for))
    n_new = len(orgs) + len(second_for)
    county.acct_bank = np.r_[county.acct_bank, org_bank, bank2]
    county.acct_is_org = np.r_[county.acct_is_org, np.ones(len(orgs), bool), np.zeros(len(second_for), bool)]
    county.acct_holder = np.r_[county.acct_holder, orgs, second_for]
    opened = -rng.integers(30, 15 * 365, size=n_new)
    county.acct_opened = np.r_[county.acct_opened, opened]
    county.acct_active_from = np.r_[county.acct_active_from, opened]
    n_orgs = len(county.org_kind)
    org_acct = np.full(n_orgs, -1, dtype=np.int64)
    org_acct[: len(county.org_acct)] = county.org_acct
    org_acct[orgs] = first + np.arange(len(orgs))
    county.org_acct = org_acct
    county.person_acct2[second_for] = first + len(orgs) + np.arange(len(second_for))
    build_account_table(county)


def build_account_table(county: County) -> None:
    banks = county.banks
    n = len(county.acct_bank)
    bins = np.array([bank.bin for bank in banks])[county.acct_bank]
    serial = codes.scramble(np.arange(n))
    cards = codes.card_numbers(bins, serial)
    corp_prefix = pl.Series([bank.corp_prefix for bank in banks]).gather(county.acct_bank)
    corporate = corp_prefix + pl.Series(serial).cast(pl.String).str.zfill(13)
    is_org = pl.Series(county.acct_is_org)
    holder = county.acct_holder
    person_holder = np.where(county.acct_is_org, 0, holder)
    org_holder = np.where(county.acct_is_org, holder, 0)
    org_names = pl.Series(county.org_names)
    org_reps = county.org_legal_rep[org_holder]
    start = np.datetime64(county.start, "D")
    table = pl.DataFrame(
        {
            "account_no": pl.select(pl.when(is_org).then(corporate).otherwise(cards)).to_series(),
            "name": pl.select(
                pl.when(is_org).then(org_names.gather(org_holder)).otherwise(county.person_name.gather(person_holder))
            ).to_series(),
            "id_no": pl.select(
                pl.when(is_org).then(county.org_id.gather(org_holder)).otherwise(county.person_id.gather(person_holder))
            ).to_series(),
            "is_org": is_org,
            "phone": pl.select(
                pl.when(is_org)
                .then(county.person_phone.gather(org_reps))
                .otherwise(county.person_phone.gather(person_holder))
            ).to_series(),
            "legal_rep_id_no": pl.select(
                pl.when(is_org).then(county.person_id.gather(org_reps)).otherwise(pl.lit(None))
            ).to_series(),
            "occupation": pl.select(
                pl.when(is_org)
                .then(pl.Series([INDUSTRY[kind] for kind in ORG_KINDS]).gather(county.org_kind[org_holder]))
                .otherwise(pl.Series(OCCUPATIONS).gather(county.occupation[person_holder]))
            ).to_series(),
            "opened": pl.Series((start + county.acct_opened).astype(str)),
            "cnaps": pl.Series([bank.cnaps for bank in banks]).gather(county.acct_bank),
        }
    )
    empty = pl.DataFrame({column: [None] for column in table.columns}, schema=table.schema)
    county.acct_table = pl.concat([table, empty])
