"""T11 cash-out and structuring: a third of the inflow out in cash, or three ¥45,000–49,999 cash payments in
three days, fires; a little less, or spread wider, does not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def inflow_then_cash(cash: float) -> list[dict]:
    rows = [pay(f"P{i}", "ACC", 30_000, day(i)) for i in range(20)]  # ¥600,000 in
    rows.append(pay("ACC", None, cash, day(25)))
    return rows


def test_a_third_withdrawn_in_cash_fires(con, run):
    add_payments(con, inflow_then_cash(200_000))
    [alert] = run("T11", AS_OF)
    assert alert.metrics["is_cash_out"] and not alert.metrics["is_structuring"]
    assert alert.reason_zh == "30 天内现金取出 ¥200,000，为转入的 33%"


def test_a_smaller_withdrawal_does_not_fire(con, run):
    add_payments(con, inflow_then_cash(170_000))
    assert run("T11", AS_OF) == []


def test_three_cash_deposits_just_under_the_threshold_in_three_days_fire(con, run):
    add_payments(
        con,
        [pay(None, "ACC", 49_999.99, day(3)), pay(None, "ACC", 46_000, day(4)), pay(None, "ACC", 48_000, day(6, 9))],
    )
    [alert] = run("T11", AS_OF)
    assert alert.metrics["is_structuring"] and alert.metrics["longest_run"] == 3
    assert "¥45,000–¥49,999.99" in alert.reason_zh


def test_near_threshold_cash_spread_over_more_days_does_not_fire(con, run):
    add_payments(
        con, [pay(None, "ACC", 48_000, day(3)), pay(None, "ACC", 48_000, day(5)), pay(None, "ACC", 48_000, day(7))]
    )
    assert run("T11", AS_OF) == []
