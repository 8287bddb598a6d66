"""Legitimate county life, one block of days at a time: the look-alikes every detector must tell apart.

Payroll (many employees paid monthly, like Ponzi payouts), pensions (memo 养老金), shops and hospitals
(many distinct payers, like fan-in), school fees (hundreds of parents, round amounts, a few days),
bank wealth-management interest (memo 理财, monthly, from a licensed account), wholesalers that pass
money through within hours, families passing money around once (a cycle), night-shift workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_samples.synth import batch as b
from data_samples.synth.county import KIND, County

SHOPS_PER_PERSON_DAY = 10 / 30
FAMILY_PER_PERSON_DAY = 1.5 / 30
CASH_PER_PERSON_DAY = 0.8 / 30
HOSPITAL_PER_PERSON_DAY = 0.25 / 30


@dataclass
class Life:
    """Who does what every month: fixed for the whole period."""

    dom: np.ndarray
    """Day of month of each day index."""
    residents: np.ndarray
    activity: np.ndarray
    employee: np.ndarray
    employer: np.ndarray
    salary: np.ndarray
    pay_dom: np.ndarray
    """Pay day of month of each organisation."""
    pensioner: np.ndarray
    pension: np.ndarray
    renter: np.ndarray
    landlord: np.ndarray
    rent: np.ndarray
    rent_dom: np.ndarray
    heads: np.ndarray
    shops: np.ndarray
    shop_weight: np.ndarray
    hospitals: np.ndarray
    hospital_weight: np.ndarray
    parent: np.ndarray
    school_of_parent: np.ndarray
    school_fee: np.ndarray
    school_offset: np.ndarray
    wm_holder: np.ndarray
    wm_org: np.ndarray
    wm_principal: np.ndarray
    wm_rate: np.ndarray
    wm_bought: np.ndarray
    wholesalers: np.ndarray
    retailers: np.ndarray
    suppliers: np.ndarray
    household_order: np.ndarray
    household_start: np.ndarray
    household_size: np.ndarray
    position: np.ndarray


def plan_life(county: County, rng: np.random.Generator) -> Life:
    start = np.datetime64(county.start, "D")
    dates = start + np.arange(county.days)
    dom = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    residents = county.residents
    age = county.age[residents]
    n_orgs = len(county.org_kind)
    working = residents[(age >= 20) & (age < 60) & (rng.random(len(residents)) < 0.6)]
    payers_kinds = county.orgs_of("employer", "supermarket", "wholesaler", "school", "hospital", "utility", "developer")
    size_weight = rng.pareto(1.2, size=len(payers_kinds)) + 0.2
    employer = rng.choice(payers_kinds, size=len(working), p=size_weight / size_weight.sum())
    salary = b.yuan(rng, 5500, 0.45, len(working), 2300, 60000)
    pensioner = residents[(age >= 60)]
    renter = residents[(age >= 20) & (age < 50) & (rng.random(len(residents)) < 0.15)]
    landlords_pool = residents[(age >= 45) & (age < 80)]
    landlord = rng.choice(rng.choice(landlords_pool, size=max(1, len(residents) // 40)), size=len(renter))
    shops = county.orgs_of("merchant", "supermarket")
    shop_weight = np.where(county.org_kind[shops] == KIND["supermarket"], 25.0, 1.0) * (
        rng.pareto(1.5, size=len(shops)) + 0.3
    )
    hospitals = county.orgs_of("hospital")
    hospital_weight = rng.pareto(1.0, size=len(hospitals)) + 0.5
    schools = county.orgs_of("school")
    parent = residents[(age >= 28) & (age < 48) & (rng.random(len(residents)) < 0.45)]
    school_weight = rng.pareto(1.0, size=len(schools)) + 0.5
    wm_pool_weight = np.where(age >= 55, 2.5, 1.0)
    wm_holder = rng.choice(
        residents, size=max(1, len(residents) * 6 // 100), replace=False, p=wm_pool_weight / wm_pool_weight.sum()
    )
    wealth_orgs = county.orgs_of("wealth")
    holder_bank = county.acct_bank[county.person_acct1[wm_holder]]
    # each bank's own wealth-management account sells to its customers
    wm_org = wealth_orgs[np.minimum(holder_bank, len(wealth_orgs) - 1)]
    bought = np.where(rng.random(len(wm_holder)) < 0.25, rng.integers(0, county.days, size=len(wm_holder)), -1)
    hh = county.household[residents]
    order = residents[np.argsort(hh, kind="stable")]
    sorted_hh = county.household[order]
    boundaries = np.r_[0, np.flatnonzero(np.diff(sorted_hh)) + 1]
    sizes = np.diff(np.r_[boundaries, len(order)])
    position = np.zeros(county.n_persons, dtype=np.int64)
    position[order] = np.arange(len(order)) - np.repeat(boundaries, sizes)
    household_start = np.zeros(sorted_hh.max() + 1, dtype=np.int64)
    household_size = np.zeros(sorted_hh.max() + 1, dtype=np.int64)
    household_start[sorted_hh[boundaries]] = boundaries
    household_size[sorted_hh[boundaries]] = sizes
    return Life(
        dom=dom,
        residents=residents,
        activity=rng.lognormal(0, 0.6, size=len(residents)),
        employee=working,
        employer=employer,
        salary=salary,
        pay_dom=rng.integers(5, 16, size=n_orgs),
        pensioner=pensioner,
        pension=b.yuan(rng, 2600, 0.3, len(pensioner), 1500, 9000),
        renter=renter,
        landlord=landlord,
        rent=rng.integers(6, 31, size=len(renter)).astype(np.int64) * 10000,
        rent_dom=rng.integers(1, 6, size=len(renter)),
        heads=order[boundaries],
        shops=shops,
        shop_weight=shop_weight / shop_weight.sum(),
        hospitals=hospitals,
        hospital_weight=hospital_weight / hospital_weight.sum(),
        parent=parent,
        school_of_parent=rng.choice(schools, size=len(parent), p=school_weight / school_weight.sum()),
        school_fee=rng.choice([800, 1200, 1500, 2000, 2600, 3000], size=n_orgs).astype(np.int64) * 100,
        school_offset=rng.integers(0, 20, size=n_orgs),
        wm_holder=wm_holder,
        wm_org=wm_org,
        wm_principal=rng.choice(
            [5, 10, 20, 30, 50, 100], size=len(wm_holder), p=[0.2, 0.3, 0.2, 0.12, 0.12, 0.06]
        ).astype(np.int64)
        * 1_000_000,
        wm_rate=rng.uniform(0.026, 0.038, size=len(wm_holder)),
        wm_bought=bought,
        wholesalers=county.orgs_of("wholesaler"),
        retailers=county.orgs_of("merchant", "supermarket", "employer"),
        suppliers=county.orgs_of("supplier", "employer"),
        household_order=order,
        household_start=household_start,
        household_size=household_size,
        position=position,
    )


def person_account(county: County, rng: np.random.Generator, persons: np.ndarray) -> np.ndarray:
    """The account a person uses: the second bank's account for about a third of payments."""
    second = county.person_acct2[persons]
    use_second = (second >= 0) & (rng.random(len(persons)) < 0.3)
    return np.where(use_second, second, county.person_acct1[persons])


def days_with_dom(life: Life, d0: int, d1: int, dom_values: np.ndarray) -> np.ndarray:
    """For each day-of-month value, the day index in [d0, d1) carrying it, or -1."""
    block = np.arange(d0, d1)
    lookup = np.full(32, -1)
    lookup[life.dom[block]] = block
    return lookup[dom_values]


def block_payments(county: County, life: Life, d0: int, d1: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_days = d1 - d0
    residents = life.residents
    parts = []
    acct1 = county.person_acct1
    org_acct = county.org_acct

    # payroll: each organisation pays all its employees on its pay day, in one batch
    pay_day = days_with_dom(life, d0, d1, life.pay_dom[life.employer])
    paid = pay_day >= 0
    employees = life.employee[paid]
    bonus = rng.random(paid.sum()) < 0.08
    parts.append(
        b.batch(
            pay_day[paid],
            9 * 3600 + rng.integers(0, 3600, size=paid.sum()),
            org_acct[life.employer[paid]],
            acct1[employees],
            (life.salary[paid] * rng.uniform(0.97, 1.03, size=paid.sum())).astype(np.int64)
            + np.where(bonus, life.salary[paid] // 2, 0),
            b.TRANSFER,
            b.memo_codes(rng, paid.sum(), ("工资", "代发工资", "")) * ~bonus + b.MEMO["奖金"] * bonus,
        )
    )

    # pensions on the 20th: memo 养老金 carries a fundraising keyword, the payer is the social-insurance office
    social = county.orgs_of("social")[0]
    day20 = days_with_dom(life, d0, d1, np.array([20]))[0]
    if day20 >= 0:
        parts.append(
            b.batch(
                day20,
                8 * 3600 + rng.integers(0, 7200, size=len(life.pensioner)),
                org_acct[social],
                acct1[life.pensioner],
                life.pension,
                b.TRANSFER,
                b.MEMO["养老金"],
            )
        )

    rent_day = days_with_dom(life, d0, d1, life.rent_dom)
    paying = rent_day >= 0
    parts.append(
        b.batch(
            rent_day[paying],
            b.daytime(rng, paying.sum()),
            person_account(county, rng, life.renter[paying]),
            acct1[life.landlord[paying]],
            life.rent[paying],
            b.ONLINE,
            b.memo_codes(rng, paying.sum(), ("房租", ""), [0.7, 0.3]),
        )
    )

    # utilities: each household head pays three bills a month, each employer an electricity bill
    utilities = county.orgs_of("utility")
    for utility, median, memo in zip(utilities, (180, 45, 90), ("电费", "水费", "燃气费")):
        bill_day = days_with_dom(life, d0, d1, rng.integers(1, 29, size=len(life.heads)))
        billed = bill_day >= 0
        parts.append(
            b.batch(
                bill_day[billed],
                b.daytime(rng, billed.sum()),
                acct1[life.heads[billed]],
                org_acct[utility],
                b.yuan(rng, median, 0.5, billed.sum(), 10, 3000),
                b.ONLINE,
                b.MEMO[memo],
            )
        )
    employers = county.orgs_of("employer")
    bill_day = days_with_dom(life, d0, d1, rng.integers(1, 29, size=len(employers)))
    billed = bill_day >= 0
    parts.append(
        b.batch(
            bill_day[billed],
            b.daytime(rng, billed.sum()),
            org_acct[employers[billed]],
            org_acct[utilities[0]],
            b.yuan(rng, 20000, 1.0, billed.sum(), 500, 900000),
            b.TRANSFER,
            b.MEMO["电费"],
        )
    )

    # shopping: many distinct payers into shops and supermarkets
    n = rng.poisson(SHOPS_PER_PERSON_DAY * len(residents) * n_days)
    shoppers = residents[rng.choice(len(residents), size=n, p=life.activity / life.activity.sum())]
    shop = life.shops[rng.choice(len(life.shops), size=n, p=life.shop_weight)]
    method = np.where(rng.random(n) < 0.7, b.POS, b.ONLINE)
    parts.append(
        b.batch(
            rng.integers(d0, d1, size=n),
            b.daytime(rng, n, 14, 3.5, 8, 22),
            person_account(county, rng, shoppers),
            org_acct[shop],
            b.yuan(rng, 70, 0.9, n, 2, 20000),
            method,
        )
    )

    n = rng.poisson(HOSPITAL_PER_PERSON_DAY * len(residents) * n_days)
    patient_weight = np.where(county.age[residents] >= 60, 3.0, 1.0)
    patients = rng.choice(residents, size=n, p=patient_weight / patient_weight.sum())
    hospital = life.hospitals[rng.choice(len(life.hospitals), size=n, p=life.hospital_weight)]
    parts.append(
        b.batch(
            rng.integers(d0, d1, size=n),
            b.daytime(rng, n, 11, 2.5, 7, 20),
            person_account(county, rng, patients),
            org_acct[hospital],
            b.yuan(rng, 260, 1.2, n, 5, 80000),
            np.where(rng.random(n) < 0.6, b.POS, b.ONLINE),
            b.memo_codes(rng, n, ("", "医疗费"), [0.7, 0.3]),
        )
    )

    # school fees: every parent of a school pays the same round fee within a 3-day window every 60 days
    for school in np.unique(life.school_of_parent):
        parents = life.parent[life.school_of_parent == school]
        window_starts = [day for day in range(d0, d1) if (day - life.school_offset[school]) % 60 == 0]
        for window in window_starts:
            day = np.minimum(window + rng.integers(0, 3, size=len(parents)), d1 - 1)
            parts.append(
                b.batch(
                    day,
                    b.daytime(rng, len(parents), 12, 4, 6, 23),
                    person_account(county, rng, parents),
                    org_acct[school],
                    life.school_fee[school],
                    b.ONLINE,
                    b.memo_codes(rng, len(parents), ("学费", "学杂费", "伙食费", ""), [0.4, 0.3, 0.1, 0.2]),
                )
            )

    # bank wealth-management: purchases in round amounts, monthly interest from the bank's licensed account
    bought_now = (life.wm_bought >= d0) & (life.wm_bought < d1)
    parts.append(
        b.batch(
            life.wm_bought[bought_now],
            b.daytime(rng, bought_now.sum(), 11, 2, 8, 17),
            acct1[life.wm_holder[bought_now]],
            org_acct[life.wm_org[bought_now]],
            life.wm_principal[bought_now],
            b.TRANSFER,
            b.MEMO["购买理财产品"],
        )
    )
    day21 = days_with_dom(life, d0, d1, np.array([21]))[0]
    if day21 >= 0:
        earning = life.wm_bought < day21
        parts.append(
            b.batch(
                day21,
                6 * 3600 + rng.integers(0, 3600, size=earning.sum()),
                org_acct[life.wm_org[earning]],
                acct1[life.wm_holder[earning]],
                (life.wm_principal[earning] * life.wm_rate[earning] / 12).astype(np.int64),
                b.TRANSFER,
                b.memo_codes(rng, earning.sum(), ("理财收益", "理财产品到期兑付"), [0.9, 0.1]),
            )
        )

    parts.append(family_payments(county, life, d0, d1, rng))
    parts.append(cash_payments(county, life, d0, d1, rng))
    parts.append(wholesale_payments(county, life, d0, d1, rng))
    parts.append(business_payments(county, life, d0, d1, rng))
    payments = b.concat(parts)

    # night-shift workers pay at night, online
    payer_person = np.where(
        (payments["payer"] >= 0) & ~county.acct_is_org[payments["payer"]], county.acct_holder[payments["payer"]], 0
    )
    at_night = (payments["payer"] >= 0) & county.night[payer_person] & (payments["method"] != b.TRANSFER)
    payments["sec"] = np.where(at_night, b.night(rng, len(at_night)), payments["sec"])
    payments["method"] = np.where(at_night & (payments["method"] != b.CASH), b.ONLINE, payments["method"]).astype(
        np.int8
    )
    # accounts not yet opened or still dormant do not move money; nobody pays themselves
    day = payments["day"]
    active = county.acct_active_from
    keep = (
        ((payments["payer"] < 0) | (active[payments["payer"]] <= day))
        & ((payments["payee"] < 0) | (active[payments["payee"]] <= day))
        & (payments["payer"] != payments["payee"])
    )
    return b.select(payments, keep)


def family_payments(county: County, life: Life, d0: int, d1: int, rng: np.random.Generator):
    residents = life.residents
    n = rng.poisson(FAMILY_PER_PERSON_DAY * len(residents) * (d1 - d0))
    senders = rng.choice(residents, size=n)
    hh = county.household[senders]
    size = life.household_size[hh]
    step = 1 + rng.integers(0, np.maximum(size - 1, 1))
    relative = life.household_order[life.household_start[hh] + (life.position[senders] + step) % size]
    # people living alone send to a relative elsewhere: any other person, outsiders included
    relative = np.where(size > 1, relative, rng.integers(0, county.n_persons, size=n))
    round_amount = rng.choice([200, 300, 500, 800, 1000, 1500, 2000, 3000, 5000], size=n).astype(np.int64) * 100
    amount = np.where(rng.random(n) < 0.7, round_amount, b.yuan(rng, 600, 1.0, n, 10, 50000))
    day = rng.integers(d0, d1, size=n)
    payments = [
        b.batch(
            day,
            b.daytime(rng, n, 15, 4, 7, 23),
            person_account(county, rng, senders),
            county.person_acct1[relative],
            amount,
            np.where(rng.random(n) < 0.8, b.ONLINE, b.TRANSFER),
            b.memo_codes(rng, n, ("生活费", "红包", "转账", ""), [0.25, 0.15, 0.1, 0.5]),
        )
    ]
    # a few families pass one sum around once: A → B → C → A within a week (a legitimate cycle)
    n_cycles = max(1, len(residents) // 3000)
    members = rng.choice(residents, size=(n_cycles, 3), replace=False)
    first_day = rng.integers(d0, max(d0 + 1, d1 - 6), size=n_cycles)
    amount = rng.integers(20, 80, size=n_cycles).astype(np.int64) * 100000
    for hop in range(3):
        day = np.minimum(first_day + hop * rng.integers(1, 3, size=n_cycles), d1 - 1)
        hop_amount = (amount * rng.uniform(0.95, 1.05, size=n_cycles)).astype(np.int64) // 100 * 100
        payments.append(
            b.batch(
                day,
                b.daytime(rng, n_cycles),
                county.person_acct1[members[:, hop]],
                county.person_acct1[members[:, (hop + 1) % 3]],
                hop_amount,
                b.ONLINE,
                b.memo_codes(rng, n_cycles, ("借款", "还款", "")),
            )
        )
    return b.concat(payments)


def cash_payments(county: County, life: Life, d0: int, d1: int, rng: np.random.Generator):
    residents = life.residents
    n = rng.poisson(CASH_PER_PERSON_DAY * len(residents) * (d1 - d0))
    people = person_account(county, rng, rng.choice(residents, size=n))
    deposit = rng.random(n) < 0.45
    amount = b.yuan(rng, 2000, 1.0, n, 100, 200000) // 10000 * 10000 + 10000
    atm = ~deposit & (amount <= 500000) & (rng.random(n) < 0.6)
    parts = [
        b.batch(
            rng.integers(d0, d1, size=n),
            b.daytime(rng, n, 12, 3, 8, 20),
            np.where(deposit, -1, people),
            np.where(deposit, people, -1),
            amount,
            np.where(atm, b.ATM, b.CASH),
        )
    ]
    # shops bank their takings weekly; the big ones cross the ¥50,000 cash threshold
    shops = life.shops
    weekday = rng.integers(0, 7, size=len(shops))
    for day in range(d0, d1):
        banking = shops[weekday == day % 7]
        parts.append(
            b.batch(
                day,
                b.daytime(rng, len(banking), 16, 1, 9, 18),
                -1,
                county.org_acct[banking],
                b.yuan(rng, 15000, 0.8, len(banking), 500, 400000),
                b.CASH,
                b.MEMO["经营款"],
            )
        )
    return b.concat(parts)


def wholesale_payments(county: County, life: Life, d0: int, d1: int, rng: np.random.Generator):
    """Retailers pay wholesalers; each wholesaler pays its suppliers most of the day's takings within hours."""
    wholesalers, org_acct = life.wholesalers, county.org_acct
    n_per_day = rng.poisson(6, size=(d1 - d0, len(wholesalers)))
    n = int(n_per_day.sum())
    day = np.repeat(np.repeat(np.arange(d0, d1), len(wholesalers)), n_per_day.ravel())
    seller = np.repeat(np.tile(np.arange(len(wholesalers)), d1 - d0), n_per_day.ravel())
    sec = b.daytime(rng, n, 11, 2.5, 7, 18)
    amount = b.yuan(rng, 30000, 0.8, n, 1000, 1_500_000)
    inflow = b.batch(
        day,
        sec,
        org_acct[rng.choice(life.retailers, size=n)],
        org_acct[wholesalers[seller]],
        amount,
        b.TRANSFER,
        b.memo_codes(rng, n, ("货款", ""), [0.8, 0.2]),
    )
    key = (day - d0) * len(wholesalers) + seller
    totals = np.bincount(key, weights=amount, minlength=(d1 - d0) * len(wholesalers))
    last_sec = np.zeros(len(totals), dtype=np.int64)
    np.maximum.at(last_sec, key, sec)
    paying = np.flatnonzero(totals > 0)
    parts = [inflow]
    for share_index, share in enumerate((0.6, 0.36)):
        out_sec = np.minimum(
            last_sec[paying] + rng.integers(3600, 8 * 3600, size=len(paying)) + share_index * 600, 86399
        )
        parts.append(
            b.batch(
                d0 + paying // len(wholesalers),
                out_sec,
                org_acct[wholesalers[paying % len(wholesalers)]],
                org_acct[rng.choice(life.suppliers, size=len(paying))],
                (totals[paying] * share * rng.uniform(0.97, 1.0, size=len(paying))).astype(np.int64),
                b.TRANSFER,
                b.MEMO["货款"],
            )
        )
    return b.concat(parts)


def business_payments(county: County, life: Life, d0: int, d1: int, rng: np.random.Generator):
    """Large company transfers (some above ¥2,000,000), house purchases, shop owners' monthly draw."""
    org_acct = county.org_acct
    companies = county.orgs_of("employer", "developer", "supplier", "supermarket")
    n = max(2, len(companies) * (d1 - d0) // 60)
    payer = rng.choice(companies, size=n)
    payee = rng.choice(companies, size=n)
    parts = [
        b.batch(
            rng.integers(d0, d1, size=n),
            b.daytime(rng, n, 11, 2, 8, 17),
            org_acct[payer],
            org_acct[payee],
            b.yuan(rng, 400000, 1.0, n, 10000, 9_000_000),
            b.TRANSFER,
            b.memo_codes(rng, n, ("货款", "往来款", "服务费", "")),
        )
    ]
    residents = life.residents
    n = rng.poisson(len(residents) * 0.0006 * (d1 - d0) / 30) + 1
    buyers = rng.choice(residents, size=n)
    developer = rng.choice(county.orgs_of("developer"), size=n)
    parts.append(
        b.batch(
            rng.integers(d0, d1, size=n),
            b.daytime(rng, n, 11, 2, 9, 17),
            county.person_acct1[buyers],
            org_acct[developer],
            rng.integers(20, 150, size=n).astype(np.int64) * 1_000_000,
            b.TRANSFER,
            b.MEMO["购房款"],
        )
    )
    shops = life.shops
    draw_day = days_with_dom(life, d0, d1, np.full(len(shops), 28))
    drawing = draw_day >= 0
    parts.append(
        b.batch(
            draw_day[drawing],
            b.daytime(rng, drawing.sum()),
            org_acct[shops[drawing]],
            county.person_acct1[county.org_legal_rep[shops[drawing]]],
            b.yuan(rng, 12000, 0.7, drawing.sum(), 1000, 300000),
            b.ONLINE,
        )
    )
    return b.concat(parts)
