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


def background(days: int = 180) -> list[dict]:
    """Other accounts' business on every day of the look-back: the warehouse's history covers it."""
    return [pay(f"B{n}", f"S{n}", 100, day(-n)) for n in range(1, days + 1)]


def test_dormant_account_waking_up_fires(con, run):
    rows = background() + [pay("X", "SLEEPER", 500, day(-300)), pay("SLEEPER", "Y", 400, day(-150))]
    rows += [pay(f"P{i}", "SLEEPER", 25_000, day(i)) for i in range(21)]
    add_payments(con, rows)
    [alert] = run("T7", AS_OF)
    assert alert.subject == "SLEEPER" and alert.metrics["is_quiet"]
    assert alert.metrics["basis"] == "quiet_history" and alert.metrics["history_days"] == 180
    assert "此前 180 天几乎无交易" in alert.reason_zh


def test_new_account_says_it_used_the_reported_opening_date(con, run):
    add_parties(con, [party("NEW", opened=date(2024, 12, 20))])
    add_payments(con, counterparties("NEW", 20) + background())
    [alert] = run("T7", AS_OF)
    assert alert.metrics["basis"] == "account_opened"


def test_one_row_far_before_the_window_does_not_change_its_alerts(con, run):
    add_parties(con, [party("NEW", opened=date(2024, 12, 20)), party("OLD", opened=None)])
    add_payments(con, counterparties("NEW", 20) + counterparties("OLD", 25, amount=30_000))
    before = [(alert.subject, alert.metrics["basis"]) for alert in run("T7", AS_OF)]
    add_payments(con, [pay("STRAY1", "STRAY2", 10, day(-400))])
    after = [(alert.subject, alert.metrics["basis"]) for alert in run("T7", AS_OF)]
    assert before == after == [("NEW", "account_opened")]


def test_steadily_busy_account_is_not_a_burst(con, run):
    rows = background() + [pay("X", "SHOP", 500, day(-300))]
    rows += [pay(f"C{m}_{i}", "SHOP", 1_000, day(-30 * m + i)) for m in range(1, 7) for i in range(25)]
    rows += [pay(f"P{i}", "SHOP", 1_000, day(i)) for i in range(25)]
    add_payments(con, rows)
    assert run("T7", AS_OF) == []
