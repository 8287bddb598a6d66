"""T5 memo keywords: investment memos from several payers fire; too few, or one person's habit, do not."""

from datetime import date

from tests.builders import add_payments, day, pay

AS_OF = date(2025, 1, 30)


def test_five_keyword_memos_from_five_payers_fire(con, run):
    memos = ["复投", "第一期利息", "理财款", "复投", "入股"]
    add_payments(con, [pay(f"P{i}", "HUB", 10_000, day(i), memo=memo) for i, memo in enumerate(memos)])
    alerts = {alert.subject: alert for alert in run("T5", AS_OF)}
    assert alerts["HUB"].metrics["keyword_hits"] == 5
    assert alerts["HUB"].metrics["keywords"] == ["入股", "利息", "复投", "理财"]
    assert "复投" in alerts["HUB"].reason_zh


def test_purpose_is_searched_too(con, run):
    add_payments(con, [pay(f"P{i}", "HUB", 10_000, day(i), purpose="投资款") for i in range(5)])
    assert [alert.subject for alert in run("T5", AS_OF)] == ["HUB"]


def test_four_hits_among_many_payments_do_not_fire(con, run):
    rows = [pay(f"P{i}", "HUB", 10_000, day(i), memo="分红") for i in range(4)]
    rows += [pay(f"Q{i}", "HUB", 10_000, day(i), memo="货款") for i in range(30)]
    add_payments(con, rows)
    assert run("T5", AS_OF) == []


def test_one_persons_memo_habit_does_not_fire(con, run):
    add_payments(con, [pay("P1", "WEALTH", 10_000, day(i), memo="理财") for i in range(8)])
    assert run("T5", AS_OF) == []


def test_keyword_list_comes_from_the_pack(con, run):
    add_payments(con, [pay(f"P{i}", "HUB", 10_000, day(i), memo="养生会员") for i in range(5)])
    assert run("T5", AS_OF) == []
    assert [alert.subject for alert in run("T5", AS_OF, memo_keywords=("养生",))] == ["HUB"]


def test_pension_and_bank_wealth_products_are_not_investment_memos(con, run):
    rows = [pay("ORG_社会保险事业管理中心", f"P{i}", 2_000, day(i), memo="养老金") for i in range(6)]
    rows += [pay(f"P{i}", "ORG_银行理财资金专户", 50_000, day(i), memo="购买理财产品") for i in range(6)]
    rows += [pay("ORG_银行理财资金专户", f"P{i}", 1_000, day(i + 10), memo="理财收益") for i in range(6)]
    add_payments(con, rows)
    assert run("T5", AS_OF) == []


def test_elderly_care_memos_still_count(con, run):
    add_payments(con, [pay(f"P{i}", "HUB", 10_000, day(i), memo="养老服务费") for i in range(5)])
    assert [alert.subject for alert in run("T5", AS_OF)] == ["HUB"]
