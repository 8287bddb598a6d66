"""Planted graph shapes in a random background, for the whole-graph detector tests and the per-shape figures.

A background of quiet accounts paying each other at random (log-uniform amounts), plus shops with steady crowds
of customers and payrolls paying the same staff every month (busy, but each like its own usual). Into it go
golden shapes — fan-in, fan-out, cycle, scatter-gather, gather-scatter, bipartite — and near misses: the same
shape with out-of-order times, amounts off tolerance, or spread beyond the rule's span. Every planted account
also has a little background traffic of its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from detectors.base import Window
from detectors.neighbourhood import fill_table

AS_OF = date(2025, 6, 29)
WINDOW = Window(as_of=AS_OF, days=90)
START = WINDOW.start
SHAPES = ("fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter", "bipartite")
RULE_OF_SHAPE = {
    "fan_in": "G8",
    "fan_out": "G9",
    "cycle": "G10",
    "scatter_gather": "G11",
    "gather_scatter": "G12",
    "bipartite": "G13",
}
OLD_RULE_OF_SHAPE = {
    "fan_in": "G1",
    "fan_out": "G2",
    "cycle": "G3",
    "scatter_gather": "G4",
    "gather_scatter": "G5",
    "bipartite": "G6",
}


@dataclass
class Planted:
    shape: str
    name: str
    golden: bool
    why: str  # "golden", or what makes it a near miss
    key: str  # the account an alert about the shape names as its subject (hub, source, first payer, a sender)
    accounts: set[str] = field(default_factory=set)


class World:
    def __init__(self, seed: int = 15, background_accounts: int = 5_000, background_payments: int = 45_000):
        self.rng = random.Random(seed)
        self.columns: dict[str, list] = {
            "payment_id": [],
            "match_method": [],
            "txn_time": [],
            "amount_cny": [],
            "payer_account": [],
            "payee_account": [],
            "payer_kind": [],
            "payee_kind": [],
            "method": [],
            "is_cash": [],
        }
        self.seed = seed
        self.background = [f"BG{i:05d}" for i in range(background_accounts)]
        self.background_payments = background_payments
        self.planted: list[Planted] = []

    # --- payments ---------------------------------------------------------------------------------------
    def pay(self, payer: str, payee: str, amount: float, when: datetime) -> None:
        c = self.columns
        c["payment_id"].append(f"PM{len(c['payment_id']):07d}")
        c["match_method"].append("match_no")
        c["txn_time"].append(when)
        c["amount_cny"].append(round(amount, 2))
        c["payer_account"].append(payer)
        c["payee_account"].append(payee)
        c["payer_kind"].append("PERSON")
        c["payee_kind"].append("PERSON")
        c["method"].append("TRANSFER")
        c["is_cash"].append(False)

    def at(self, day: float) -> datetime:
        return START + timedelta(days=day, minutes=self.rng.randint(0, 600))

    def amount(self) -> float:
        return 10 ** self.rng.uniform(1.7, 4.7)  # ¥50 … ¥50,000, median about ¥1,600

    def _background(self, con: duckdb.DuckDBPyConnection) -> None:
        """Random payments among the background accounts, shops and payrolls, generated inside DuckDB (fast).
        u(i, salt) is a uniform number in [0, 1) from a hash, so the background is the same on every run."""
        n = len(self.background)

        def u(salt: int) -> str:
            return f"((hash(i, {self.seed}, {salt}) % 1000003) / 1000003.0)"

        def account(salt: int) -> str:
            return f"'BG' || lpad(CAST(CAST(floor({u(salt)} * {n}) AS BIGINT) AS VARCHAR), 5, '0')"

        insert = (
            "INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payee_account, "
            "payer_kind, payee_kind, method, is_cash) "
        )
        con.execute(
            insert
            + f"""
            SELECT 'BGP' || i, 'match_no', $start + to_seconds(CAST({u(3)} * 89.9 * 86400 AS BIGINT)),
                   round(pow(10, 1.7 + 3.0 * {u(4)}), 2),  -- ¥50 … ¥50,000, median about ¥1,600
                   payer, payee, 'PERSON', 'PERSON', 'TRANSFER', false
            FROM (SELECT i, {account(1)} AS payer, {account(2)} AS payee FROM range({self.background_payments}) t(i))
            WHERE payer <> payee
            """,
            {"start": START},
        )
        # a shop: a steady crowd of customers, three a day; a payroll: the same 30 staff paid every month
        con.execute(
            insert
            + f"""
            SELECT 'SHP' || i, 'match_no', $start + to_seconds(CAST(floor(i / 30) * 86400 + {u(5)} * 36000 AS BIGINT)),
                   round(20 + 280 * {u(6)}, 2), {account(7)}, 'SHOP' || CAST(i % 10 AS VARCHAR),
                   'PERSON', 'PERSON', 'TRANSFER', false
            FROM range(90 * 30) t(i)
            UNION ALL
            SELECT 'PRL' || i, 'match_no', $start + to_seconds(CAST((floor(i / 150) * 30 + 5) * 86400 AS BIGINT)),
                   6000, 'PAYROLL' || CAST(i % 5 AS VARCHAR),
                   'BG' || lpad(CAST(hash(i % 150, {self.seed}) % {n} AS VARCHAR), 5, '0'),
                   'PERSON', 'PERSON', 'TRANSFER', false
            FROM range(3 * 150) t(i)
            """,
            {"start": START},
        )

    def _own_traffic(self, accounts: set[str]) -> None:
        for account in sorted(accounts):
            for _ in range(2):
                other = self.rng.choice(self.background)
                if self.rng.random() < 0.5:
                    self.pay(account, other, self.amount(), self.at(self.rng.uniform(0, 89.9)))
                else:
                    self.pay(other, account, self.amount(), self.at(self.rng.uniform(0, 89.9)))

    def _plant(self, shape: str, name: str, why: str, key: str, accounts: set[str]) -> None:
        self.planted.append(Planted(shape, name, why == "golden", why, key, accounts | {key}))
        self._own_traffic(accounts | {key})

    # --- shapes -------------------------------------------------------------------------------------------
    def fan(self, name: str, direction: str, why: str = "golden", size: int = 12) -> None:
        hub = f"{name}_HUB"
        others = [f"{name}_{i:02d}" for i in range(size)]
        begin = self.rng.uniform(5, 60)
        for i, other in enumerate(others):
            # golden: all within 5 days; spread: one a week, never 3 inside one 14-day window
            day = begin + self.rng.uniform(0, 5) if why == "golden" else 2 + i * 7.3
            amount = self.rng.uniform(5_000, 50_000)
            if direction == "in":
                self.pay(other, hub, amount, self.at(day))
            else:
                self.pay(hub, other, amount, self.at(day))
        self._plant("fan_in" if direction == "in" else "fan_out", name, why, hub, set(others))

    def cycle(self, name: str, length: int, why: str = "golden", turns: int = 1) -> None:
        """One large turn (above the 99th percentile of payments), or `turns` small ones 12 days apart;
        why="small_once" is one small turn (family passing a gift round)."""
        accounts = [f"{name}_{i}" for i in range(length)]
        small = turns > 1 or why == "small_once"
        for turn in range(turns):
            day = (3 + 12 * turn + self.rng.uniform(0, 2)) if small else self.rng.uniform(3, 50)
            amount = self.rng.uniform(3_000, 8_000) if small else self.rng.uniform(80_000, 250_000)
            times, amounts = [], []
            for _ in range(length):
                times.append(day)
                amounts.append(amount)
                day += 11 if why == "spread" else self.rng.uniform(0.5, 3)
                amount *= self.rng.uniform(0.93, 0.99)
            if why == "out_of_order":
                times[1], times[2] = times[2], times[1]  # the second account pays on before it was paid
            if why == "amount_off":
                for hop in range(2, length):
                    amounts[hop] *= 0.6  # one account keeps 40%
            for hop in range(length):
                self.pay(accounts[hop], accounts[(hop + 1) % length], amounts[hop], self.at(times[hop]))
        self._plant("cycle", name, why, accounts[0], set(accounts))

    def scatter_gather(self, name: str, why: str = "golden", paths: int = 5) -> None:
        source, target = f"{name}_SRC", f"{name}_DST"
        middles = [f"{name}_M{i}" for i in range(paths)]
        begin = self.rng.uniform(3, 60)
        for i, middle in enumerate(middles):
            first = begin + (i * 12 if why == "spread" else self.rng.uniform(0, 4))
            second = first + self.rng.uniform(0.5, 3)
            amount = self.rng.uniform(20_000, 80_000)
            onward = amount * self.rng.uniform(0.93, 0.99)
            if why == "out_of_order":
                first, second = second, first  # the middle pays the target before it was paid
            if why == "amount_off":
                onward = amount * 0.5
            self.pay(source, middle, amount, self.at(first))
            self.pay(middle, target, onward, self.at(second))
        self._plant("scatter_gather", name, why, source, {target, *middles})

    def gather_scatter(self, name: str, why: str = "golden", size: int = 6) -> None:
        hub = f"{name}_HUB"
        senders = [f"{name}_S{i}" for i in range(size)]
        receivers = [f"{name}_R{i}" for i in range(size)]
        begin = self.rng.uniform(3, 60)
        gathered = 0.0
        ins = [self.rng.uniform(10_000, 60_000) for _ in senders]
        gathered = sum(ins)
        share = 0.4 if why == "amount_off" else self.rng.uniform(0.9, 0.98)
        outs = [gathered * share / size * self.rng.uniform(0.9, 1.1) for _ in receivers]
        for i, (sender, amount) in enumerate(zip(senders, ins)):
            day = {"golden": begin + self.rng.uniform(0, 4), "out_of_order": begin + 6 + self.rng.uniform(0, 4)}.get(
                why, begin + self.rng.uniform(0, 4)
            )
            if why == "spread":
                day = 2 + i * 14
            self.pay(sender, hub, amount, self.at(day))
        for i, (receiver, amount) in enumerate(zip(receivers, outs)):
            day = begin + 5 + self.rng.uniform(0, 4)
            if why == "out_of_order":
                day = begin + self.rng.uniform(0, 4)  # paid out before any money came in
            if why == "spread":
                day = 9 + i * 14
            self.pay(hub, receiver, amount, self.at(day))
        self._plant("gather_scatter", name, why, hub, set(senders) | set(receivers))

    def bipartite(self, name: str, why: str = "golden", side: int = 4) -> None:
        senders = [f"{name}_S{i}" for i in range(side)]
        receivers = [f"{name}_R{i}" for i in range(side)]
        begin = self.rng.uniform(3, 70)
        for s, sender in enumerate(senders):
            for r, receiver in enumerate(receivers):
                if why == "sparse" and (s + r) % 3:  # 6 of 16 pairs paid: far below the density
                    continue
                day = begin + self.rng.uniform(0, 6)
                if why == "spread":
                    day = 1 + (s * side + r) * 5.5  # one pair every 5.5 days, across 88 days
                amount = 100.0 if why == "amount_off" else self.rng.uniform(10_000, 50_000)
                self.pay(sender, receiver, amount, self.at(day))
        self._plant("bipartite", name, why, senders[0], set(senders) | set(receivers))

    def insert(self, con: duckdb.DuckDBPyConnection) -> None:
        self._background(con)
        fill_table(con, "payments", self.columns)


def planted_world(seed: int = 15, copies: int = 3) -> World:
    """The standard test world: `copies` golden shapes of each kind and every kind of near miss of each."""
    world = World(seed)
    for n in range(copies):
        world.fan(f"FI{n}", "in")
        world.fan(f"FO{n}", "out")
        world.cycle(f"CY{n}", length=3 + n % 4)
        world.scatter_gather(f"SG{n}")
        world.gather_scatter(f"GS{n}")
        world.bipartite(f"BP{n}")
    world.cycle("CY3", length=6)
    world.cycle("CY4", length=4, turns=3)  # small, but repeated
    world.fan("FIX", "in", why="spread")
    world.fan("FOX", "out", why="spread")
    world.cycle("CYX_small_once", length=3, why="small_once")
    for why in ("out_of_order", "amount_off", "spread"):
        world.cycle(f"CYX_{why}", length=4, why=why)
        world.scatter_gather(f"SGX_{why}", why=why)
        world.gather_scatter(f"GSX_{why}", why=why)
    for why in ("sparse", "amount_off", "spread"):
        world.bipartite(f"BPX_{why}", why=why)
    return world


def score(world: World, alerts_by_rule: dict[str, list], rule_of_shape: dict[str, str]) -> dict[str, dict]:
    """Per shape: golden shapes found, near misses hit, and alert precision (an alert is right when one of the
    accounts it names belongs to a golden shape of that kind)."""
    figures = {}
    for shape in SHAPES:
        alerts = alerts_by_rule.get(rule_of_shape[shape], [])
        golden = [p for p in world.planted if p.shape == shape and p.golden]
        misses = [p for p in world.planted if p.shape == shape and not p.golden]
        named = [named_accounts(alert) for alert in alerts]
        found = [p for p in golden if any(p.key in names for names in named)]
        hit_misses = [p for p in misses if any(names & p.accounts for names in named)]
        right = sum(1 for names in named if any(names & p.accounts for p in golden))
        figures[shape] = {
            "golden": len(golden),
            "found": len(found),
            "near_misses": len(misses),
            "near_misses_hit": len(hit_misses),
            "alerts": len(alerts),
            "recall": len(found) / len(golden) if golden else 0.0,
            "precision": right / len(alerts) if alerts else 0.0,
            "missed": [p.name for p in golden if p not in found],
            "near_misses_hit_names": [p.name for p in hit_misses],
        }
    return figures


def named_accounts(alert) -> set[str]:
    """The accounts an alert names: its subject, and the shape's members from its metrics."""
    names = {alert.subject}
    for key in ("cycle_accounts", "senders", "receivers", "intermediaries"):
        value = alert.metrics.get(key)
        if isinstance(value, list):
            names |= set(value)
    for key in ("source", "target"):
        if isinstance(alert.metrics.get(key), str):
            names.add(alert.metrics[key])
    return names
