"""A small seeded county for the scoring tests: ordinary accounts paying each other at random, and optionally one
planted collection hub (150 elderly payers, round amounts, 复投 memos, regular small payouts) no rule needs to name.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from tests.builders import add_parties, add_payments, day, party, pay

HUB = "6299000000000001"


def ordinary_accounts(count: int) -> list[str]:
    return [f"6217{i:012d}" for i in range(count)]


def build_county(con, seed: int = 1, ordinary: int = 200, with_hub: bool = True) -> None:
    rng = random.Random(seed)
    accounts = ordinary_accounts(ordinary)
    rows = []
    for account in accounts:
        for _ in range(rng.randint(6, 30)):
            other = rng.choice(accounts)
            rows.append(
                pay(
                    account,
                    other,
                    round(rng.lognormvariate(8, 1.2), 2),
                    day(rng.uniform(0, 88), hour=rng.randint(8, 20)),
                    payer_birth=date(rng.randint(1950, 2000), 1, 1),
                )
            )
    add_parties(
        con, [party(account, opened=date(2015, 1, 1) + timedelta(days=rng.randint(0, 3000))) for account in accounts]
    )
    if with_hub:
        rows += planted_hub(rng)
        add_parties(con, [party(HUB, opened=date(2024, 12, 1))])
    add_payments(con, rows)


def planted_hub(rng: random.Random, investors: int = 150) -> list[dict]:
    rows = []
    for i in range(investors):
        investor = f"6228{i:012d}"
        paid_on = rng.uniform(0, 55)
        rows.append(
            pay(
                investor,
                HUB,
                10000 * rng.randint(1, 5),
                day(paid_on, hour=rng.randint(8, 18)),
                payer_birth=date(1948 + i % 12, 3, 1),
                memo="复投",
            )
        )
        for month in (1, 2):
            rows.append(pay(HUB, investor, 300, day(paid_on + 30 * month, hour=9), memo="利息"))
    return rows
