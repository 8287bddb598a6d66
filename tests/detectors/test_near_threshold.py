"""T14 near-threshold structuring: three transfers at 90–99.99% of the threshold between one pair within
seven days fire; spread wider, below the band, or under a higher threshold, they do not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def test_three_person_transfers_just_under_half_a_million_fire_on_the_receiving_end(con, run):
    add_payments(con, [pay("P1", "P2", 480_000, day(d)) for d in (1, 3, 8)])
    [alert] = run("T14", AS_OF)
    assert alert.subject == "P2" and alert.metrics["longest_run"] == 3


def test_cash_drawn_just_under_the_threshold_alerts_the_drawing_account(con, run):
    add_payments(con, [pay("P1", None, 47_000, day(d)) for d in (1, 2, 6)])
    assert [alert.subject for alert in run("T14", AS_OF)] == ["P1"]


def test_spread_over_more_than_seven_days_does_not_fire(con, run):
    add_payments(con, [pay("P1", "P2", 480_000, day(d)) for d in (1, 5, 9)])
    assert run("T14", AS_OF) == []


def test_amounts_below_the_band_do_not_fire(con, run):
    add_payments(con, [pay("P1", "P2", 440_000, day(d)) for d in (1, 2, 3)])
    assert run("T14", AS_OF) == []


def test_companies_have_a_higher_threshold(con, run):
    add_payments(con, [pay("ORG_A", "ORG_B", 480_000, day(d)) for d in (1, 2, 3)])
    assert run("T14", AS_OF) == []
