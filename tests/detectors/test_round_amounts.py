"""T4 round or unit-multiple amounts: investors paying in units fire; shoppers paying odd amounts do not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def inflows(round_count: int, odd_count: int) -> list[dict]:
    rows = [pay(f"P{i}", "HUB", 5_000 * (1 + i % 3), day(i)) for i in range(round_count)]
    rows += [pay(f"Q{i}", "HUB", 4_873.5 + i, day(i)) for i in range(odd_count)]
    return rows


def test_sixty_percent_round_fires(con, run):
    add_payments(con, inflows(12, 8))
    [alert] = run("T4", AS_OF)
    assert alert.metrics["round_share"] == 0.6
    assert alert.metrics["individual_inflows"] == 20


def test_just_under_sixty_percent_does_not_fire(con, run):
    add_payments(con, inflows(11, 9))
    assert run("T4", AS_OF) == []


def test_subscription_unit_that_is_not_a_thousand_counts(con, run):
    add_payments(con, [pay(f"P{i}", "HUB", 3_600 * (1 + i % 2), day(i)) for i in range(20)])
    [alert] = run("T4", AS_OF)
    assert alert.metrics["unit_amount_cny"] == 3_600
    assert "¥3,600" in alert.reason_zh


def test_shop_with_small_odd_amounts_is_not_t4(con, run):
    add_payments(con, [pay(f"P{i}", "ORG_SHOP", 37.5 + 3 * i, day(i % 28)) for i in range(200)])
    assert run("T4", AS_OF) == []


def test_school_fees_are_round_but_not_savings(con, run):
    add_payments(con, [pay(f"PARENT{i}", "ORG_SCHOOL", 2_600, day(i % 20)) for i in range(150)])
    assert run("T4", AS_OF) == []
