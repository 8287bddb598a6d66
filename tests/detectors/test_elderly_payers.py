"""T6 elderly payers: ≥ 10 and ≥ 30% of the payers aged 60+ fires; fewer, or a smaller share, does not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)
OLD = date(1950, 3, 1)


def payers(elderly: int, others: int) -> list[dict]:
    rows = [pay(f"E{i}", "HUB", 30_000, day(i % 28), payer_birth=OLD) for i in range(elderly)]
    rows += [pay(f"Y{i}", "HUB", 30_000, day(i % 28)) for i in range(others)]
    return rows


def test_ten_of_thirty_elderly_fires(con, run):
    add_payments(con, payers(10, 20))
    [alert] = run("T6", AS_OF)
    assert (alert.metrics["elderly_payers"], alert.metrics["individual_payers"]) == (10, 30)
    assert alert.reason_zh == "30 天内 30 名个人转入 ¥900,000，其中 10 人（33%）年满 60 岁"


def test_nine_elderly_do_not_fire(con, run):
    add_payments(con, payers(9, 10))
    assert run("T6", AS_OF) == []


def test_a_quarter_elderly_does_not_fire(con, run):
    add_payments(con, payers(10, 30))
    assert run("T6", AS_OF) == []


def test_age_is_taken_at_the_end_of_the_window(con, run):
    turning_sixty_later = date(1965, 2, 15)
    add_payments(
        con, [pay(f"E{i}", "HUB", 30_000, day(22 + i % 8), payer_birth=turning_sixty_later) for i in range(12)]
    )
    assert run("T6", AS_OF) == []
    assert len(run("T6", date(2025, 2, 20))) == 1


def test_elderly_customers_paying_small_sums_do_not_fire(con, run):
    add_payments(con, [pay(f"E{i}", "ORG_PHARMACY", 2_900, day(i % 28), payer_birth=OLD) for i in range(40)])
    assert run("T6", AS_OF) == []
