"""T7 new or dormant account suddenly active: a new account or a revived idle one with a burst fires; an old
account with steady business, or a new one without a burst, does not."""

from datetime import date

from tests.builders import add_parties, add_payments, day, party, pay

AS_OF = date(2025, 1, 30)


def counterparties(account: str, count: int, amount: float = 1_000) -> list[dict]:
    return [pay(f"P{i}", account, amount, day(i % 28)) for i in range(count)]


def test_new_account_with_twenty_counterparties_fires(con, run):
    add_parties(con, [party("NEW", opened=date(2024, 12, 20))])
    add_payments(con, counterparties("NEW", 20))
    [alert] = run("T7", AS_OF)
    assert alert.metrics["is_new"] and alert.metrics["counterparties"] == 20
    assert alert.reason_zh.startswith("开户于 2024-12-20 的新账户")


def test_new_account_with_nineteen_counterparties_does_not_fire(con, run):
    add_parties(con, [party("NEW", opened=date(2024, 12, 20))])
    add_payments(con, counterparties("NEW", 19))
    assert run("T7", AS_OF) == []


def test_old_account_without_history_in_the_warehouse_is_not_judged_dormant(con, run):
    add_parties(con, [party("OLD", opened=date(2020, 1, 1))])
    add_payments(con, counterparties("OLD", 25))
    assert run("T7", AS_OF) == []


def test_dormant_account_waking_up_fires(con, run):
    rows = [pay("X", "SLEEPER", 500, day(-300)), pay("SLEEPER", "Y", 400, day(-290))]
    rows += [pay(f"P{i}", "SLEEPER", 25_000, day(i)) for i in range(21)]
    add_payments(con, rows)
    [alert] = run("T7", AS_OF)
    assert alert.subject == "SLEEPER" and alert.metrics["is_quiet"]
    assert "此前 180 天几乎无交易" in alert.reason_zh


def test_steadily_busy_account_is_not_a_burst(con, run):
    rows = [pay("X", "SHOP", 500, day(-300))]
    rows += [pay(f"C{m}_{i}", "SHOP", 1_000, day(-30 * m + i)) for m in range(1, 7) for i in range(25)]
    rows += [pay(f"P{i}", "SHOP", 1_000, day(i)) for i in range(25)]
    add_payments(con, rows)
    assert run("T7", AS_OF) == []
