"""T1 scattered in, concentrated out: a collection account fires; a school and a near miss do not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def collection(payers: int, amount: float) -> list[dict]:
    rows = [pay(f"P{i}", "HUB", amount, day(i % 25)) for i in range(payers)]
    rows.append(pay("HUB", "BOSS", payers * amount * 0.9, day(26)))
    return rows


def test_collection_account_fires_with_its_reason(con, run):
    add_payments(con, collection(30, 20_000))
    [alert] = run("T1", AS_OF)
    assert alert.subject == "HUB"
    assert alert.metrics["individual_payers"] == 30
    assert alert.metrics["inflow_cny"] == 600_000
    assert alert.metrics["top_out_share"] == 1.0
    assert alert.reason_zh == "30 天内 30 名个人转入 ¥600,000（个人占 100%），100% 的转出流向 1 个对手"
    assert len(alert.evidence) == 30 and 0.5 <= alert.strength <= 1


def test_one_payer_short_does_not_fire(con, run):
    add_payments(con, collection(29, 21_000))
    assert run("T1", AS_OF) == []


def test_inflow_just_under_the_amount_does_not_fire(con, run):
    add_payments(con, collection(30, 16_600))  # ¥498,000
    assert run("T1", AS_OF) == []


def test_school_collecting_fees_and_paying_staff_is_not_t1(con, run):
    rows = [pay(f"PARENT{i}", "ORG_SCHOOL", 3_000, day(i % 20)) for i in range(200)]
    rows += [pay("ORG_SCHOOL", f"TEACHER{i}", 14_000, day(25)) for i in range(40)]
    add_payments(con, rows)
    assert run("T1", AS_OF) == []


def test_supermarket_paying_few_suppliers_is_not_t1(con, run):
    rows = [pay(f"SHOPPER{i}", "ORG_MARKET", 180 + i % 50, day(i % 28)) for i in range(3_000)]
    rows.append(pay("ORG_MARKET", "ORG_SUPPLIER", 500_000, day(27)))
    add_payments(con, rows)
    assert run("T1", AS_OF) == []
