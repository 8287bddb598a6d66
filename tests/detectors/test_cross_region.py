"""T12 cross-region payers: half the payers from outside the county across ≥ 3 provinces fires; fewer does not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)
ELSEWHERE = ["110101", "440106", "510104", "320102", "370102"]


def payers(outside: int, local: int) -> list[dict]:
    rows = [pay(f"O{i}", "HUB", 10_000, day(i), payer_region=ELSEWHERE[i % len(ELSEWHERE)]) for i in range(outside)]
    rows += [pay(f"L{i}", "HUB", 10_000, day(i)) for i in range(local)]
    return rows


def test_half_from_three_other_provinces_fires(con, run):
    add_payments(con, payers(5, 5))
    [alert] = run("T12", AS_OF)
    assert alert.metrics["outside_payers"] == 5 and alert.metrics["provinces"] == 6
    assert "来自县外" in alert.reason_zh


def test_four_in_ten_from_outside_do_not_fire(con, run):
    add_payments(con, payers(4, 6))
    assert run("T12", AS_OF) == []


def test_outside_payers_from_one_neighbouring_county_do_not_fire(con, run):
    add_payments(con, [pay(f"O{i}", "HUB", 10_000, day(i), payer_region="330781") for i in range(20)])
    assert run("T12", AS_OF) == []
