"""Hidden illegal-fundraising schemes and their ground truth.

Five kinds, cycled: a high-return "investment" Ponzi (monthly interest to earlier investors, commissions to
promoters, drains to controllers); collection through many personal accounts forwarding within hours to a hub;
a fake co-operative / elderly-care membership; a "blockchain" scheme structured just under the large-value
thresholds; and a scheme cashed out by its controllers in ¥45,000–49,999 withdrawals. Sizes run from tens to
thousands of investors drawn with an elderly tilt; some schemes' investors never write a keyword memo.
Disguised twins of the lawful look-alikes (lookalikes.py) are planned apart, after them (`DISGUISED_KINDS`): a
养老 "membership" paying 12% a year, a "co-op" taking deposits from non-members, a "保障计划" posing as insurance,
a "wealth product" sold outside any bank, a shop paying "consumption rebates" — each with fixed-rate returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_samples.synth import batch as b
from data_samples.synth.county import County, add_orgs, county_name

KINDS = ("ponzi", "collectors", "coop", "blockchain", "cashout")
DISGUISED_KINDS = ("care_membership", "coop_deposit", "fake_insurance", "fake_wealth", "consume_rebate")
"""Each the twin of a lawful look-alike kind (lookalikes.LOOKALIKE_KINDS, in the same order)."""
DISGUISED_RATES = {
    "care_membership": (0.0095, 0.0105),  # 12% a year
    "coop_deposit": (0.008, 0.012),
    "fake_insurance": (0.008, 0.012),
    "fake_wealth": (0.007, 0.01),
    "consume_rebate": (0.012, 0.018),
}
PRIMARY_TYPOLOGY = {
    **{kind: "interest_payout" for kind in DISGUISED_KINDS},
    "ponzi": "interest_payout",
    "collectors": "pass_through",
    "coop": "elderly_payers",
    "blockchain": "near_threshold",
    "cashout": "cash_out",
}
TYPOLOGIES = {
    **{
        kind: ("interest_payout", "fan_in", "round_amounts", "elderly_payers", "insider_commission")
        for kind in DISGUISED_KINDS
    },
    "ponzi": ("interest_payout", "fan_in", "round_amounts", "elderly_payers", "insider_commission"),
    "collectors": ("pass_through", "fan_in", "gather_scatter", "interest_payout", "insider_commission"),
    "coop": ("elderly_payers", "round_amounts", "unrelated_business", "interest_payout", "fan_in"),
    "blockchain": ("near_threshold", "fan_in", "interest_payout"),
    "cashout": ("cash_out", "fan_in", "round_amounts", "insider_commission"),
}
INVEST_MEMOS = {
    "care_membership": ("养老会员费", "会员卡", "养老服务费"),
    "coop_deposit": ("入社存款", "入社股金", "入股"),
    "fake_insurance": ("保障金", "保费", "认购"),
    "fake_wealth": ("理财", "认购", "投资款"),
    "consume_rebate": ("刷卡消费", "会员卡", "货款"),
    "ponzi": ("投资款", "认购", "入股", "理财"),
    "collectors": ("投资款", "认购", "集资"),
    "coop": ("会员费", "养老服务费", "入社股金"),
    "blockchain": ("USDT", "矿机", "算力租赁", "投资款"),
    "cashout": ("投资款", "认购", "入股"),
}
PAYOUT_MEMOS = {
    "care_membership": ("养老补贴", "分红", "返利"),
    "coop_deposit": ("分红", "利息"),
    "fake_insurance": ("收益", "返利"),
    "fake_wealth": ("收益", "利息"),
    "consume_rebate": ("消费返利", "返利"),
    "ponzi": ("利息", "月息", "收益", "返利"),
    "collectors": ("利息", "收益", "返利"),
    "coop": ("分红", "养老补贴"),
    "blockchain": ("收益", "USDT"),
    "cashout": ("利息", "分红"),
}
NEUTRAL_MEMOS = ("", "", "", "转账", "往来款", "借款")
ORG_NAMES = {
    "care_membership": ("颐养中心有限公司", "养老服务有限公司"),
    "coop_deposit": ("农民专业合作社", "种植专业合作社"),
    "fake_insurance": ("保障服务有限公司", "健康管理有限公司"),
    "fake_wealth": ("财富管理有限公司", "资产管理有限公司"),
    "consume_rebate": ("商贸有限公司", "电子商务有限公司"),
    "ponzi": ("投资咨询有限公司", "财富管理有限公司"),
    "collectors": ("商务咨询有限公司", "资产管理有限公司"),
    "coop": ("养老服务专业合作社", "颐养服务有限公司"),
    "blockchain": ("区块链科技有限公司", "数字科技有限公司"),
    "cashout": ("供应链管理有限公司", "文化传媒有限公司"),
}


@dataclass
class Scheme:
    scheme_id: str
    kind: str
    start: int
    """First day of the scheme (negative: it began before the generated period)."""
    end: int
    uses_keyword_memo: bool
    cash_out: bool
    monthly_rate: float
    commission_rate: float
    controllers: np.ndarray
    promoters: np.ndarray
    collectors: np.ndarray
    investors: np.ndarray
    hub_org: int = -1
    hub_person: int = -1
    hub_acct: int = -1
    collector_accts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    investor_accts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    total_raised: int = 0
    n_investors_paid: int = 0

    @property
    def typologies(self) -> list[str]:
        found = list(TYPOLOGIES[self.kind]) + ["controlled_accounts"]
        if self.uses_keyword_memo:
            found.append("memo_keywords")
        if self.cash_out and "cash_out" not in found:
            found.append("cash_out")
        return found


def plan_schemes(
    county: County,
    rng: np.random.Generator,
    n_schemes: int,
    kinds: tuple[str, ...] = KINDS,
    first_number: int = 1,
    exclude: np.ndarray | None = None,
    invested: np.ndarray | None = None,
):
    """Choose each scheme's people and found its organisations. Returns the schemes and what the account
    opener needs: controllers (two banks each), new personal accounts (person, bank, day), org opening days.
    `kinds` are cycled; `exclude` are persons holding a role in schemes planned before (never a role here,
    never an investor); `invested` are investors of schemes planned before (never a role here, may invest).

    Nobody who invests in one scheme holds a role in another: a cash payment in records the investor as the
    agent (代办人) on the hub's account, which ties the hub to the investor's own accounts as one actor, so an
    investor who also fronts or controls another scheme would make two schemes one controller in the data
    while the truth says two."""
    residents = county.residents
    age = county.age
    eligible = residents[(age[residents] >= 25) & (age[residents] <= 65)]
    if exclude is not None:
        eligible = eligible[~np.isin(eligible, exclude)]
    pool = rng.permutation(eligible)
    taken = 0
    has_role = np.zeros(county.n_persons, dtype=bool)
    if exclude is not None:
        has_role[exclude] = True
    has_invested = np.zeros(county.n_persons, dtype=bool)
    if invested is not None:
        has_invested[invested] = True
    reporting = np.flatnonzero(county.reporting())
    days = county.days
    keyword_flags = rng.random(n_schemes) < 0.65
    if n_schemes >= 2 and keyword_flags.all():
        keyword_flags[n_schemes // 2] = False
    if n_schemes >= 2 and not keyword_flags.any():
        keyword_flags[0] = True
    size_quantile = rng.permutation((np.arange(n_schemes) + rng.random(n_schemes)) / max(n_schemes, 1))
    cap = max(30, min(3000, int(0.15 * len(residents))))
    schemes, force_two, extra_accounts, org_opened = [], [], [], {}
    place = county_name(county.county_code)
    everyone = np.arange(county.n_persons)
    for index in range(n_schemes):
        kind = kinds[index % len(kinds)]
        if kind == "blockchain":
            n_investors = 10 + int(size_quantile[index] * 40)
        else:
            n_investors = int(np.exp(np.log(20) + size_quantile[index] * (np.log(cap) - np.log(20))))
        start = int(rng.integers(0, max(1, days // 2))) if rng.random() < 0.65 else -int(rng.integers(20, 120))
        end = days if rng.random() < 0.7 else min(days, max(start + 30, int(rng.integers(days * 6 // 10, days + 1))))
        end = max(end, min(days, max(start, 0) + 21))
        n_controllers = int(rng.integers(1, 3))
        promoted = ("ponzi", "collectors", "coop", "care_membership", "coop_deposit", "consume_rebate")
        n_promoters = max(3, min(25, n_investors // 40)) if kind in promoted else 0
        n_collectors = max(4, min(40, n_investors // 20)) if kind == "collectors" else 0
        n_roles = n_controllers + n_promoters + n_collectors + 1
        picked: list[int] = []
        while len(picked) < n_roles and taken < len(pool):
            if not has_invested[pool[taken]]:
                picked.append(pool[taken])
            taken += 1
        roles = np.array(picked, dtype=pool.dtype)
        has_role[roles] = True
        controllers, promoters = roles[:n_controllers], roles[n_controllers : n_controllers + n_promoters]
        collectors = roles[n_controllers + n_promoters : n_controllers + n_promoters + n_collectors]
        front = roles[-1]
        weight = np.where(age >= 60, 3.0, 1.0)
        if kind in ("coop", "care_membership"):
            weight = np.where(age >= 60, 8.0, np.where(age < 50, 0.3, 1.0))
        elif kind == "blockchain":
            weight = np.where((age >= 30) & (age < 66), 1.0, 0.1)
        weight = weight.astype(float)
        weight[has_role] = 0.0  # nobody with a role in any scheme so far invests
        n_investors = min(n_investors, int((weight > 0).sum()))
        investors = rng.choice(everyone, size=n_investors, replace=False, p=weight / weight.sum())
        has_invested[investors] = True
        scheme = Scheme(
            scheme_id=f"S{index + first_number:02d}",
            kind=kind,
            start=start,
            end=end,
            uses_keyword_memo=bool(keyword_flags[index]),
            cash_out=kind == "cashout" or (kind == "ponzi" and rng.random() < 0.5),
            monthly_rate=rng.uniform(*DISGUISED_RATES[kind])
            if kind in DISGUISED_RATES
            else {
                "ponzi": rng.uniform(0.01, 0.03),
                "collectors": rng.uniform(0.015, 0.025),
                "coop": rng.uniform(0.008, 0.015),
                "blockchain": rng.uniform(0.025, 0.04),
                "cashout": rng.uniform(0.01, 0.02),
            }[kind],
            commission_rate=rng.uniform(0.03, 0.08),
            controllers=controllers,
            promoters=promoters,
            collectors=collectors,
            investors=investors,
        )
        hub_is_org = kind in ("coop", "cashout", *DISGUISED_KINDS) or rng.random() < 0.5
        opened = min(start, days - 1) - int(rng.integers(5, 60))
        if hub_is_org:
            suffix = ORG_NAMES[kind][int(rng.integers(0, 2))]
            brand = "".join(rng.choice(list("金瑞鼎盛汇丰福寿康宁安泰众鑫华夏民生"), size=2))
            prefix = "93" if suffix.endswith("合作社") else "91"
            scheme.hub_org = int(
                add_orgs(
                    county,
                    rng,
                    ["scheme"],
                    [f"{place}{brand}{suffix}"],
                    [prefix],
                    np.array([int(county.county_code)]),
                    controllers[:1],
                )[0]
            )
            org_opened[scheme.hub_org] = opened
        else:
            scheme.hub_person = int(front)
            extra_accounts.append((int(front), int(rng.choice(reporting)), opened))
        for collector in collectors:
            extra_accounts.append(
                (int(collector), int(rng.choice(reporting)), max(start, 0) - int(rng.integers(0, 15)))
            )
        force_two.extend(controllers.tolist())
        schemes.append(scheme)
    return schemes, np.array(force_two, dtype=np.int64), extra_accounts, org_opened


def attach_accounts(county: County, schemes: list[Scheme], extra_accts: np.ndarray) -> None:
    position = 0
    for scheme in schemes:
        if scheme.hub_org >= 0:
            scheme.hub_acct = int(county.org_acct[scheme.hub_org])
        else:
            scheme.hub_acct = int(extra_accts[position])
            position += 1
        scheme.collector_accts = extra_accts[position : position + len(scheme.collectors)]
        position += len(scheme.collectors)


def controller_accounts(county: County, scheme: Scheme) -> np.ndarray:
    return np.r_[county.person_acct1[scheme.controllers], county.person_acct2[scheme.controllers]]


def scheme_payments(county: County, scheme: Scheme, rng: np.random.Generator) -> dict[str, np.ndarray]:
    kind, days = scheme.kind, county.days
    investors = scheme.investors
    accts = county.person_acct1[investors]
    span = scheme.end - scheme.start
    join = scheme.start + ((span - 8) * rng.random(len(investors)) ** 0.7).astype(np.int64)
    join = np.maximum(join, county.acct_opened[accts] + 1)
    joined = join < scheme.end - 7
    investors, accts, join = investors[joined], accts[joined], join[joined]
    scheme.investor_accts = accts
    n = len(investors)

    # investments: one per investor, a quarter reinvest (复投); blockchain investors split under the threshold
    if kind == "blockchain":
        pieces = rng.integers(3, 7, size=n)
        who = np.repeat(np.arange(n), pieces)
        offsets = np.concatenate([np.sort(rng.choice(7, size=k, replace=False)) for k in pieces])
        inv_day = join[who] + offsets
        inv_amount = rng.integers(45_000_000, 49_999_999, size=len(who), endpoint=True)
        reinvest = np.zeros(len(who), dtype=bool)
    else:
        unit = {"ponzi": 1_000_000, "collectors": 500_000, "coop": 1_000_000, "cashout": 1_000_000}.get(kind, 1_000_000)
        multiples = {
            "care_membership": [2, 3, 5, 10],
            "coop_deposit": [1, 2, 3, 5],
            "fake_insurance": [1, 2, 5, 10],
            "fake_wealth": [5, 10, 20, 30],
            "consume_rebate": [1, 2, 3, 5],
            "ponzi": [1, 2, 3, 5, 10, 20],
            "collectors": [1, 2, 4, 6, 10],
            "coop": [1, 2, 3, 5],
            "cashout": [1, 2, 3, 5, 10],
        }[kind]
        amount = unit * rng.choice(multiples, size=n).astype(np.int64)
        again = rng.random(n) < 0.25
        again_day = join + rng.integers(30, 91, size=n)
        again &= again_day < scheme.end
        who = np.r_[np.arange(n), np.flatnonzero(again)]
        inv_day = np.r_[join, again_day[again]]
        inv_amount = np.r_[amount, (amount[again] * rng.choice([0.5, 1.0], size=again.sum())).astype(np.int64)]
        reinvest = np.r_[np.zeros(n, bool), np.ones(again.sum(), bool)]
    m = len(who)
    inv_sec = b.daytime(rng, m, 11, 2.5, 8, 19)
    if scheme.uses_keyword_memo:
        memo = np.where(rng.random(m) < 0.75, b.memo_codes(rng, m, INVEST_MEMOS[kind]), 0)
        memo = np.where(reinvest & (rng.random(m) < 0.7), b.MEMO["复投"], memo)
    else:
        memo = b.memo_codes(rng, m, NEUTRAL_MEMOS)
    cash_share = {"coop": 0.25, "blockchain": 0.15}.get(kind, 0.1)
    by_cash = (rng.random(m) < cash_share) & ~county.outsider[investors[who]]
    if kind == "blockchain":
        # cash paid in just under ¥50,000 instead of the transfer
        inv_amount = np.where(by_cash, rng.integers(4_500_000, 4_999_999, size=m, endpoint=True), inv_amount)
    method = np.where(by_cash, b.CASH, np.where(rng.random(m) < 0.6, b.ONLINE, b.TRANSFER))
    if kind == "consume_rebate":
        method = np.where(by_cash, b.CASH, b.POS)  # "purchases" swiped at the shop's terminal
    target = np.full(m, scheme.hub_acct)
    if kind == "collectors":
        collector_of = rng.integers(0, len(scheme.collector_accts), size=n)
        target = scheme.collector_accts[collector_of[who]]
    in_window = (inv_day >= 0) & (inv_day < days)
    parts = [
        b.select(
            b.batch(
                inv_day,
                inv_sec,
                np.where(by_cash, -1, accts[who]),
                target,
                inv_amount,
                method,
                memo,
                np.where(by_cash, investors[who], -1),
            ),
            in_window,
        )
    ]
    scheme.total_raised = int(inv_amount[in_window].sum())
    scheme.n_investors_paid = len(np.unique(who[in_window]))

    if kind == "collectors":
        parts.append(
            forwarding(scheme, target[in_window], inv_day[in_window], inv_sec[in_window], inv_amount[in_window], rng)
        )
    parts.append(interest(scheme, accts[who], inv_day, inv_amount, days, rng))
    if len(scheme.promoters):
        promoter_of = rng.integers(0, len(scheme.promoters), size=n)[who]
        pay_day = inv_day + rng.integers(1, 4, size=m)
        paid = in_window & (pay_day < min(days, scheme.end + 3))
        commission_memo = b.memo_codes(rng, m, ("佣金", "提成", "推广费")) if scheme.uses_keyword_memo else 0
        parts.append(
            b.select(
                b.batch(
                    pay_day,
                    b.daytime(rng, m, 15, 1.5, 9, 20),
                    scheme.hub_acct,
                    county.person_acct1[scheme.promoters[promoter_of]],
                    (inv_amount * scheme.commission_rate).astype(np.int64),
                    b.ONLINE,
                    commission_memo,
                ),
                paid,
            )
        )
    parts.append(drains(county, scheme, inv_day[in_window], inv_amount[in_window], rng))
    if scheme.hub_org >= 0:
        parts.append(cover_business(county, scheme, rng))
    return b.concat(parts)


def forwarding(scheme: Scheme, collector_acct, day, sec, amount, rng) -> dict[str, np.ndarray]:
    """Each collector sends the day's takings on to the hub within hours."""
    key = collector_acct.astype(np.int64) * 100_000 + day
    groups, inverse = np.unique(key, return_inverse=True)
    totals = np.bincount(inverse, weights=amount).astype(np.int64)
    last = np.zeros(len(groups), dtype=np.int64)
    np.maximum.at(last, inverse, sec)
    out_sec = np.minimum(last + rng.integers(1200, 5 * 3600, size=len(groups)), 86399)
    kept = rng.uniform(0.99, 1.0, size=len(groups))
    return b.batch(
        groups % 100_000,
        out_sec,
        groups // 100_000,
        scheme.hub_acct,
        (totals * kept).astype(np.int64),
        b.ONLINE,
        b.memo_codes(rng, len(groups), NEUTRAL_MEMOS),
    )


def interest(scheme: Scheme, accts, inv_day, inv_amount, days, rng) -> dict[str, np.ndarray]:
    """Monthly 'interest' at a fixed rate of principal, paid to every earlier investor until the end."""
    last_day = min(scheme.end, days) - 1
    n_payouts = np.maximum((last_day - inv_day) // 30, 0)
    event = np.repeat(np.arange(len(inv_day)), n_payouts)
    k = np.arange(len(event)) - np.repeat(np.cumsum(n_payouts) - n_payouts, n_payouts) + 1
    day = inv_day[event] + 30 * k
    in_window = day >= 0
    event, day = event[in_window], day[in_window]
    n = len(event)
    memo = (
        b.memo_codes(rng, n, PAYOUT_MEMOS[scheme.kind])
        if scheme.uses_keyword_memo
        else b.memo_codes(rng, n, NEUTRAL_MEMOS)
    )
    return b.batch(
        day,
        b.daytime(rng, n, 13, 1.5, 10, 17),
        scheme.hub_acct,
        accts[event],
        (inv_amount[event] * scheme.monthly_rate).astype(np.int64),
        b.ONLINE,
        memo,
    )


def drains(county: County, scheme: Scheme, inv_day, inv_amount, rng) -> dict[str, np.ndarray]:
    """Weekly transfers of part of the takings to the controllers, and their cash-outs."""
    days = county.days
    controller_accts = controller_accounts(county, scheme)
    first = max(scheme.start, 0)
    weeks = np.arange(first, min(scheme.end, days), 7)
    takings = np.array([inv_amount[(inv_day >= week) & (inv_day < week + 7)].sum() for week in weeks])
    share = 0.5 if scheme.kind == "cashout" else rng.uniform(0.25, 0.45)
    parts = []
    for week, taken in zip(weeks, takings):
        total = int(taken * share)
        if total <= 0 or week + 7 >= days:
            continue
        receiver = controller_accts[int(rng.integers(0, len(controller_accts)))]
        if scheme.kind == "blockchain":
            # structured just under the transfer threshold, same payer and payee, within a week
            limit = 200_000_000 if scheme.hub_org >= 0 else 50_000_000
            n_chunks = max(1, min(6, total // (limit * 95 // 100)))
            amounts = rng.integers(limit * 90 // 100, limit - 1, size=n_chunks, endpoint=True)
            chunk_days = week + 7 + np.sort(rng.choice(7, size=n_chunks, replace=False))
        else:
            n_chunks = int(rng.integers(1, 4))
            amounts = np.full(n_chunks, total // n_chunks // 100_000 * 100_000)
            chunk_days = np.full(n_chunks, week + 7)
        keep = (chunk_days < days) & (amounts > 0)
        parts.append(
            b.select(
                b.batch(
                    chunk_days,
                    b.daytime(rng, n_chunks, 15, 2, 9, 20),
                    scheme.hub_acct,
                    receiver,
                    amounts,
                    b.ONLINE,
                    b.memo_codes(rng, n_chunks, NEUTRAL_MEMOS),
                ),
                keep,
            )
        )
        if scheme.cash_out:
            # ¥45,000–49,999 a day from the same account: each day stays under the ¥50,000 cash threshold
            received = int(amounts[keep].sum())
            n_cash = min(received * 85 // 100 // 4_750_000, 8)
            cash_days = week + 8 + np.arange(n_cash)
            parts.append(
                b.select(
                    b.batch(
                        cash_days,
                        b.daytime(rng, n_cash, 11, 2, 9, 16),
                        receiver,
                        -1,
                        rng.integers(4_500_000, 4_999_999, size=n_cash, endpoint=True),
                        b.CASH,
                    ),
                    cash_days < days,
                )
            )
        if scheme.kind == "cashout":
            parts.append(
                b.batch(
                    week + 7,
                    b.daytime(rng, 1, 10, 1, 9, 15),
                    scheme.hub_acct,
                    -1,
                    total // 2 // 100_000 * 100_000 + 5_000_000,
                    b.CASH,
                )
            )
    return b.concat(parts)


def cover_business(county: County, scheme: Scheme, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A front company also looks like a business: staff wages, rent, power, some ordinary income."""
    start, end = max(scheme.start, 0), min(scheme.end, county.days)
    months = np.arange(start + 9, end, 30)
    residents = county.residents
    staff = np.r_[scheme.promoters[:3], rng.choice(residents, size=int(rng.integers(2, 6)))]
    landlord = rng.choice(residents)
    parts = []
    for day in months:
        parts.append(
            b.batch(
                day,
                9 * 3600 + rng.integers(0, 1800, size=len(staff)),
                scheme.hub_acct,
                county.person_acct1[staff],
                b.yuan(rng, 6000, 0.3, len(staff), 3000, 30000),
                b.TRANSFER,
                b.MEMO["工资"],
            )
        )
        parts.append(
            b.batch(
                day + 1,
                b.daytime(rng, 2),
                scheme.hub_acct,
                np.array([county.person_acct1[landlord], county.org_acct[county.orgs_of("utility")[0]]]),
                np.array([rng.integers(50, 200) * 10000, rng.integers(500, 3000) * 100]),
                b.ONLINE,
                np.array([b.MEMO["房租"], b.MEMO["电费"]]),
            )
        )
    n_income = max(1, (end - start) // 3)
    payers = rng.choice(residents, size=n_income)
    memo = "餐费" if scheme.kind == "coop" else "服务费"
    parts.append(
        b.batch(
            rng.integers(start, end, size=n_income),
            b.daytime(rng, n_income),
            county.person_acct1[payers],
            scheme.hub_acct,
            b.yuan(rng, 150, 0.6, n_income, 20, 3000),
            b.ONLINE,
            b.MEMO[memo],
        )
    )
    return b.concat(parts)
