"""T2 rapid pass-through: a collector forwarding within hours fires; a wholesaler paying suppliers weekly does not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def collector(inflows: int, delay_hours: int) -> list[dict]:
    rows = []
    for i in range(inflows):
        rows.append(pay(f"P{i}", "COLL", 20_000, day(2 * i, 9)))
        rows.append(pay("COLL", "HUB", 20_000, day(2 * i, 9 + delay_hours)))
    return rows


def test_collector_forwarding_within_hours_fires(con, run):
    add_payments(con, collector(5, 2))
    [alert] = run("T2", AS_OF)
    assert alert.subject == "COLL"
    assert alert.metrics["fast_share"] == 1.0
    assert alert.metrics["out_in_ratio"] == 1.0
    assert alert.metrics["median_hours"] == 2.0
    assert alert.reason_zh.startswith("30 天内转入 5 笔共 ¥100,000，100% 在 24 小时内转出")
    # the hub receives from one account only and keeps the money: it is not a pass-through
    assert all(a.subject != "HUB" for a in run("T2", AS_OF))


def test_forwarding_after_more_than_a_day_does_not_fire(con, run):
    add_payments(con, collector(5, 25))
    assert run("T2", AS_OF) == []


def test_one_inflow_too_few_does_not_fire(con, run):
    add_payments(con, collector(4, 2))
    assert run("T2", AS_OF) == []


def test_wholesaler_paying_suppliers_weekly_is_not_t2(con, run):
    rows = [pay(f"ORG_SHOP{i}", "ORG_WHOLESALE", 20_000, day(2 * i, 11)) for i in range(12)]
    # the supplier is paid once a week for what came in that week
    rows += [
        pay("ORG_WHOLESALE", "ORG_FACTORY", amount, day(d, 16))
        for d, amount in ((6, 80_000), (13, 60_000), (20, 80_000), (24, 20_000))
    ]
    add_payments(con, rows)
    assert run("T2", AS_OF) == []


def test_account_spending_an_old_balance_before_its_inflows_is_not_fast(con, run):
    rows = [pay("ORG_MAKER", "ORG_SUPPLIER", 200_000, day(0, 8))]  # paid from money held before the window
    rows += [pay(f"ORG_BUYER{i}", "ORG_MAKER", 20_000, day(2 * i, 11)) for i in range(10)]
    rows += [pay("ORG_MAKER", "ORG_SUPPLIER", 20_000, day(2 * i + 1, 9)) for i in range(0, 10, 5)]
    add_payments(con, rows)
    assert run("T2", AS_OF) == []
