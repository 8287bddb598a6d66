"""T13 receipts unrelated to the business: a trading company taking "investment" money from 30 individuals
fires; a bank's wealth product, fewer payers, and a person paid by few companies do not."""

from datetime import date

from tests.builders import add_parties, add_payments, day, party, pay

AS_OF = date(2025, 1, 30)


def company_receipts(account: str, payers: int) -> list[dict]:
    return [
        pay(f"P{i}", account, 12_345 + i, day(i % 28), memo="入股" if i % 3 == 0 else "货款") for i in range(payers)
    ]


def test_trading_company_with_investment_memos_fires(con, run):
    add_parties(con, [party("ORG_TRADE", occupation="批发和零售业")])
    add_payments(con, company_receipts("ORG_TRADE", 30))
    [alert] = run("T13", AS_OF)
    assert alert.metrics["branch"] == "organisation" and alert.metrics["keyword_share"] == 0.3333
    assert alert.reason_zh.startswith("非金融单位（批发和零售业）")


def test_financial_institution_is_not_t13(con, run):
    add_parties(con, [party("ORG_BANK", occupation="银行理财")])
    add_payments(con, company_receipts("ORG_BANK", 30))
    assert run("T13", AS_OF) == []


def test_twenty_nine_payers_do_not_fire(con, run):
    add_payments(con, company_receipts("ORG_TRADE", 29))
    assert run("T13", AS_OF) == []


def test_person_paid_often_by_several_companies_fires(con, run):
    add_payments(con, [pay(f"ORG_{i % 3}", "AGENT", 8_000, day(2 * i)) for i in range(10)])
    [alert] = run("T13", AS_OF)
    assert alert.metrics["branch"] == "individual" and alert.metrics["org_payers"] == 3


def test_person_paid_by_two_companies_does_not_fire(con, run):
    add_payments(con, [pay(f"ORG_{i % 2}", "AGENT", 8_000, day(2 * i)) for i in range(12)])
    assert run("T13", AS_OF) == []
