"""T8 night activity: 30% of ≥ 10 payments online at night, moving ≥ ¥50,000, fires; fewer, smaller, or at a
counter, does not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def payments(night: int, daytime: int, **facts) -> list[dict]:
    rows = [pay(f"P{i}", "ACC", 20_000, day(i, 23, 30), **facts) for i in range(night)]
    rows += [pay(f"Q{i}", "ACC", 2_000, day(i, 14)) for i in range(daytime)]
    return rows


def test_three_of_ten_online_at_night_fires(con, run):
    add_payments(con, payments(3, 7, method="ONLINE"))
    [alert] = run("T8", AS_OF)
    assert alert.subject == "ACC" and alert.metrics["night_share"] == 0.3


def test_early_morning_counts_as_night(con, run):
    add_payments(con, [pay(f"P{i}", "ACC", 6_000, day(i, 5, 59), method="ONLINE") for i in range(10)])
    assert [alert.subject for alert in run("T8", AS_OF)] == ["ACC"]


def test_two_of_ten_do_not_fire(con, run):
    add_payments(con, payments(2, 8, method="ONLINE"))
    assert run("T8", AS_OF) == []


def test_night_payments_without_an_online_channel_do_not_count(con, run):
    add_payments(con, payments(5, 5))
    assert run("T8", AS_OF) == []


def test_night_owl_buying_small_things_does_not_fire(con, run):
    add_payments(con, [pay("ACC", f"ORG_SHOP{i}", 300, day(i, 23), method="ONLINE") for i in range(20)])
    assert run("T8", AS_OF) == []
