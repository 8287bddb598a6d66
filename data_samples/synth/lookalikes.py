"""Lawful look-alikes: businesses whose money looks like fundraising at a glance, each with the shape that
makes it lawful (DOMAIN §0: avoid 非法集资泛化).

- co-op (农民专业合作社): members pay for inputs when they need them, the co-op pays its input supplier;
  a buyer pays for the produce, and members are settled every fortnight in proportion to what they delivered
  (amounts that vary with each delivery, not a fixed share of what they paid).
- care home (养老院): the same families pay the same fee every month; the home pays staff, food, utilities.
- insurer's branch (保险支公司): premiums of a fixed amount on each policy's day of the month; claims paid to
  people who are mostly not the payers; the takings go up to the head office every week.
- bank wealth product (理财产品募集专户): subscriptions in a raising window, swept the same day to the bank's
  own settlement account, which pays redemptions at 2.5–3.8% a year.
- big-ticket merchant (金店/家电): customers swipe cards (POS) for amounts that are not round; the merchant pays
  its supplier every other day, its staff and its power.
Planned after the schemes with their own random streams, so every earlier draw of the county stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_samples.synth import batch as b
from data_samples.synth.county import KIND, County, add_orgs, county_name

LOOKALIKE_KINDS = ("coop", "care_home", "insurer", "bank_product", "merchant")
ENTITY_KIND = {
    "coop": "coop",
    "care_home": "care_home",
    "insurer": "insurer",
    "bank_product": "bank_product",
    "merchant": "big_merchant",
}
"""Look-alike kind → the organisation kind in county.ORG_KINDS."""


@dataclass
class LookAlike:
    kind: str
    org: int
    """The entity's organisation (its account is the one that looks like a hub)."""
    partner_org: int = -1
    """The insurer's head office, the bank product's settlement account, the co-op's buyer; -1 when none."""
    supplier_org: int = -1
    people: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Members, residents' payers, policyholders, subscribers, or (merchant) nobody: customers vary."""
    amount: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per person: the fixed monthly fee or premium, or the subscription (cents)."""
    dom: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per person: the day of the month they pay."""
    staff: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    wage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def plan_lookalikes(county: County, rng: np.random.Generator, per_kind: int) -> tuple[list[LookAlike], np.ndarray]:
    """Found `per_kind` entities of each kind; returns them and the new organisations, whose accounts the caller
    opens (county.append_accounts) at the banks `entity_banks` gives."""
    place = county_name(county.county_code)
    residents = county.residents
    age = county.age
    adults = residents[(age[residents] >= 25) & (age[residents] <= 75)]
    reporting = [bank for bank in county.banks if bank.reporting]
    kinds: list[str] = []
    names: list[str] = []
    prefixes: list[str] = []
    reps: list[int] = []
    plans: list[tuple[str, int, str | None]] = []
    for number in range(per_kind):
        brand = "".join(rng.choice(list("丰裕春晖和润康乐福安长青德馨绿野嘉禾"), size=2))
        bank = reporting[(number + 1) % len(reporting)]
        specs = {
            "coop": (f"{place}{brand}果蔬专业合作社", "93", f"{place}{brand}农产品批发市场有限公司"),
            "care_home": (f"{place}{brand}养老院", "52", None),
            "insurer": (
                f"{brand}人寿保险股份有限公司{place}支公司",
                "91",
                f"{brand}人寿保险股份有限公司",
            ),
            "bank_product": (f"{bank.name}理财产品募集专户", "91", f"{bank.name}清算资金往来户"),
            "merchant": (f"{place}{brand}金店有限公司", "92", None),
        }
        for kind in LOOKALIKE_KINDS:
            name, prefix, partner = specs[kind]
            plans.append((kind, len(kinds), partner))
            kinds.append(ENTITY_KIND[kind])
            names.append(name)
            prefixes.append(prefix)
            reps.append(int(rng.choice(adults)))
            if partner is not None:
                kinds.append("head_office" if kind in ("insurer", "bank_product") else "market")
                names.append(partner)
                prefixes.append("91")
                reps.append(int(rng.choice(adults)))
    regions = np.full(len(kinds), int(county.county_code))
    new_orgs = add_orgs(county, rng, kinds, names, prefixes, regions, np.array(reps, dtype=np.int64))
    suppliers = county.orgs_of("supplier")
    entities = []
    for kind, offset, partner in plans:
        entity = LookAlike(kind, int(new_orgs[offset]), int(new_orgs[offset + 1]) if partner else -1)
        entity.supplier_org = int(rng.choice(suppliers))
        _people(county, rng, entity)
        entities.append(entity)
    return entities, new_orgs


def entity_banks(county: County, entities: list[LookAlike], new_orgs: np.ndarray, rng: np.random.Generator):
    """The bank of each new organisation: a bank product and its settlement account sit at their own bank,
    an insurer's head office outside the county, the others at a county bank."""
    reporting = np.flatnonzero(county.reporting())
    external = np.flatnonzero(~county.reporting())
    banks = rng.choice(reporting, size=len(new_orgs))
    position = {int(org): index for index, org in enumerate(new_orgs)}
    for entity in entities:
        if entity.kind == "bank_product":
            own = next(i for i, bank in enumerate(county.banks) if county.org_names[entity.org].startswith(bank.name))
            banks[position[entity.org]] = own
            banks[position[entity.partner_org]] = own
        elif entity.kind == "insurer":
            banks[position[entity.partner_org]] = external[0]
    return banks


def _some(rng: np.random.Generator, pool: np.ndarray, low: int, high: int, p=None) -> np.ndarray:
    """Between low and high of the pool, never more than half of it (a small county has small entities)."""
    return rng.choice(pool, size=min(len(pool) // 2, int(rng.integers(low, high))), replace=False, p=p)


def _people(county: County, rng: np.random.Generator, entity: LookAlike) -> None:
    residents, age = county.residents, county.age
    kind = entity.kind
    if kind == "coop":
        farmers = residents[(age[residents] >= 30) & (age[residents] <= 75)]
        entity.people = _some(rng, farmers, 40, 90)
        n_staff = int(rng.integers(3, 6))
    elif kind == "care_home":
        elderly = residents[age[residents] >= 70]
        in_care = _some(rng, elderly, 70, 140)
        # a child in the same household pays when there is one of working age; else the resident pays
        payer = in_care.copy()
        for index, person in enumerate(in_care):
            family = np.flatnonzero(county.household == county.household[person])
            younger = family[(age[family] >= 30) & (age[family] < 65)]
            if len(younger) and rng.random() < 0.6:
                payer[index] = younger[0]
        entity.people = payer
        entity.amount = rng.integers(28, 69, size=len(payer)).astype(np.int64) * 10_000
        entity.dom = rng.integers(1, 6, size=len(payer))
        n_staff = int(rng.integers(15, 35))
    elif kind == "insurer":
        holders = residents[(age[residents] >= 25) & (age[residents] <= 70)]
        entity.people = _some(rng, holders, 180, 360)
        entity.amount = b.yuan(rng, 900, 0.6, len(entity.people), 200, 6000) // 100 * 100
        entity.dom = rng.integers(1, 29, size=len(entity.people))
        n_staff = int(rng.integers(4, 9))
    elif kind == "bank_product":
        weight = np.where(age[residents] >= 55, 2.5, 1.0)
        entity.people = _some(rng, residents, 80, 160, weight / weight.sum())
        entity.amount = rng.choice([5, 10, 20, 30, 50], size=len(entity.people)).astype(np.int64) * 1_000_000
        n_staff = 0
    else:
        n_staff = int(rng.integers(5, 11))
    workers = residents[(age[residents] >= 20) & (age[residents] < 60)]
    entity.staff = rng.choice(workers, size=min(n_staff, len(workers) // 2), replace=False)
    entity.wage = b.yuan(rng, 5000, 0.3, len(entity.staff), 3000, 20000)


def lookalike_payments(
    county: County, entities: list[LookAlike], d0: int, d1: int, dom: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Every look-alike's payments in the days [d0, d1); `dom` is the day of month of each day index."""
    parts = [_payments(county, entity, d0, d1, dom, rng) for entity in entities]
    return b.concat(parts)


def _on_dom(d0: int, d1: int, dom: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    lookup = np.full(32, -1)
    lookup[dom[d0:d1]] = np.arange(d0, d1)
    return lookup[wanted]


def _payments(county: County, entity: LookAlike, d0: int, d1: int, dom: np.ndarray, rng) -> dict[str, np.ndarray]:
    acct, org_acct, person = county.org_acct[entity.org], county.org_acct, county.person_acct1
    partner = org_acct[entity.partner_org] if entity.partner_org >= 0 else -1
    supplier = org_acct[entity.supplier_org]
    utility = org_acct[county.orgs_of("utility")[0]]
    parts = []
    # wages on the 10th, power on the 15th: the operating costs every lawful business has
    wage_day = _on_dom(d0, d1, dom, np.array([10]))[0]
    if wage_day >= 0 and len(entity.staff):
        parts.append(
            b.batch(
                wage_day,
                9 * 3600 + rng.integers(0, 1800, size=len(entity.staff)),
                acct,
                person[entity.staff],
                entity.wage,
                b.TRANSFER,
                b.MEMO["工资"],
            )
        )
    power_day = _on_dom(d0, d1, dom, np.array([15]))[0]
    if power_day >= 0 and entity.kind != "bank_product":
        parts.append(
            b.batch(
                power_day,
                b.daytime(rng, 1),
                acct,
                utility,
                b.yuan(rng, 6000, 0.4, 1, 800, 50000),
                b.TRANSFER,
                b.MEMO["电费"],
            )
        )
    n_days = d1 - d0
    if entity.kind == "coop":
        members = entity.people
        # inputs bought when needed: about one order a month per member, never a round sum
        n = rng.poisson(len(members) * n_days / 30)
        buyer = rng.choice(members, size=n)
        day = rng.integers(d0, d1, size=n)
        cents = b.yuan(rng, 6000, 0.7, n, 300, 80000) + rng.integers(1, 100, size=n) * 100 + rng.integers(1, 99, size=n)
        parts.append(
            b.batch(
                day,
                b.daytime(rng, n),
                person[buyer],
                acct,
                cents,
                np.where(rng.random(n) < 0.5, b.ONLINE, b.TRANSFER),
                b.MEMO["农资款"],
            )
        )
        # the supplier is paid for the week's orders
        for week in range(d0, d1, 7):
            week_total = int(cents[(day >= week) & (day < week + 7)].sum())
            if week_total:
                parts.append(
                    b.batch(
                        min(week + 6, d1 - 1),
                        b.daytime(rng, 1),
                        acct,
                        supplier,
                        week_total * 97 // 100,
                        b.TRANSFER,
                        b.MEMO["货款"],
                    )
                )
        # fortnightly: the buyer pays for the produce, members are settled by what each delivered
        for day in range(d0, d1):
            if dom[day] not in (14, 28):
                continue
            delivering = members[rng.random(len(members)) < 0.7]
            settled = b.yuan(rng, 7000, 0.8, len(delivering), 200, 120000)
            parts.append(b.batch(day, 10 * 3600, partner, acct, int(settled.sum() * 1.08), b.TRANSFER, b.MEMO["货款"]))
            parts.append(
                b.batch(
                    day,
                    14 * 3600 + rng.integers(0, 3600, size=len(delivering)),
                    acct,
                    person[delivering],
                    settled,
                    b.TRANSFER,
                    b.MEMO["农产品收购款"],
                )
            )
    elif entity.kind == "care_home":
        fee_day = _on_dom(d0, d1, dom, entity.dom)
        paying = fee_day >= 0
        parts.append(
            b.batch(
                fee_day[paying],
                b.daytime(rng, paying.sum()),
                person[entity.people[paying]],
                acct,
                entity.amount[paying],
                b.ONLINE,
                b.memo_codes(rng, paying.sum(), ("护理费", "床位费", ""), [0.5, 0.3, 0.2]),
            )
        )
        monthly = int(entity.amount.sum())
        for week in range(d0, d1, 7):
            parts.append(
                b.batch(week, b.daytime(rng, 1), acct, supplier, monthly * 30 // 100 // 4, b.TRANSFER, b.MEMO["货款"])
            )
    elif entity.kind == "insurer":
        due_day = _on_dom(d0, d1, dom, entity.dom)
        paying = due_day >= 0
        parts.append(
            b.batch(
                due_day[paying],
                2 * 3600 + rng.integers(0, 3600, size=paying.sum()),
                person[entity.people[paying]],
                acct,
                entity.amount[paying],
                b.TRANSFER,
                b.MEMO["保费"],
            )
        )
        premiums = entity.amount[paying]
        # claims to people who mostly never paid this branch (the insured of other branches, third parties)
        n = rng.poisson(len(entity.people) * n_days / 30 / 25) + 1
        claimants = rng.choice(county.residents, size=n)
        parts.append(
            b.batch(
                rng.integers(d0, d1, size=n),
                b.daytime(rng, n),
                acct,
                person[claimants],
                b.yuan(rng, 6000, 1.0, n, 300, 200000),
                b.TRANSFER,
                b.MEMO["理赔款"],
            )
        )
        for week in range(d0, d1, 7):
            in_week = (due_day[paying] >= week) & (due_day[paying] < week + 7)
            total = int(premiums[in_week].sum() * 0.85)
            if total:
                parts.append(
                    b.batch(min(week + 6, d1 - 1), 16 * 3600, acct, partner, total, b.TRANSFER, b.MEMO["上划资金"])
                )
    elif entity.kind == "bank_product":
        # a new issue every 30 days, raised over 5 days, swept the same day to the bank's settlement account;
        # holders of the issue that matures are paid principal and interest from the settlement account
        holders, principal = entity.people, entity.amount
        index = np.arange(len(holders))
        for day in range(d0, d1):
            issue, offset = divmod(day, 30)
            if offset >= 5:
                continue
            rolling = (index + issue) % 3 == 0  # a 90-day term: a third of the holders roll over each month
            if offset == 0:
                rate = rng.uniform(0.025, 0.038)
                paid = (principal[rolling] * (1 + rate / 4)).astype(np.int64)
                parts.append(
                    b.batch(
                        day,
                        8 * 3600 + rng.integers(0, 600, size=int(rolling.sum())),
                        partner,
                        person[holders[rolling]],
                        paid,
                        b.TRANSFER,
                        b.MEMO["理财赎回"],
                    )
                )
            buying = rolling & (index % 5 == offset)
            if buying.any():
                cents = principal[buying]
                parts.append(
                    b.batch(
                        day,
                        b.daytime(rng, int(buying.sum()), 11, 2, 9, 16),
                        person[holders[buying]],
                        acct,
                        cents,
                        b.TRANSFER,
                        b.MEMO["购买理财产品"],
                    )
                )
                parts.append(b.batch(day, 17 * 3600, acct, partner, int(cents.sum()), b.TRANSFER, b.MEMO["资金清算"]))
    else:
        # customers swipe their cards for gold and appliances; the supplier is paid every other day
        n = rng.poisson(9 * n_days)
        customers = rng.choice(county.residents, size=n)
        day = rng.integers(d0, d1, size=n)
        cents = b.yuan(rng, 5000, 0.9, n, 300, 150000) + rng.integers(1, 100, size=n) * 100
        parts.append(
            b.batch(
                day,
                b.daytime(rng, n, 15, 3, 9, 21),
                person[customers],
                acct,
                cents,
                np.where(rng.random(n) < 0.85, b.POS, b.ONLINE),
                b.MEMO["刷卡消费"],
            )
        )
        for start in range(d0, d1, 2):
            total = int(cents[(day >= start) & (day < start + 2)].sum() * 0.8)
            if total:
                parts.append(
                    b.batch(min(start + 1, d1 - 1), 16 * 3600, acct, supplier, total, b.TRANSFER, b.MEMO["货款"])
                )
    payments = b.concat(parts)
    active = county.acct_active_from
    keep = ((payments["payer"] < 0) | (active[payments["payer"]] <= payments["day"])) & (
        payments["payer"] != payments["payee"]
    )
    return b.select(payments, keep)


def lookalike_accounts(county: County, entities: list[LookAlike]) -> list[tuple[int, str, str]]:
    """(account, kind, role) of every look-alike's own accounts: what the truth marks."""
    rows = []
    for entity in entities:
        rows.append((int(county.org_acct[entity.org]), entity.kind, "entity"))
        if entity.partner_org >= 0 and entity.kind in ("insurer", "bank_product"):
            role = "head_office" if entity.kind == "insurer" else "settlement"
            rows.append((int(county.org_acct[entity.partner_org]), entity.kind, role))
    return rows


assert all(kind in KIND for kind in ENTITY_KIND.values())
