"""T10 insiders and salespeople: a company paying its legal representative, or a hub paying varying
commissions, fires; a smaller insider share and a payroll account do not."""

from datetime import date

from tests.builders import add_parties, add_payments, day, party, pay, person_id

AS_OF = date(2025, 3, 31)
BOSS_ID = person_id(date(1970, 5, 5))


def company_paying_boss(amount: float) -> list[dict]:
    rows = [pay(f"P{i}", "ORG_CO", 20_000, day(i)) for i in range(50)]
    rows.append(pay("ORG_CO", "BOSS", amount, day(60), payee_id_no=BOSS_ID))
    return rows


def test_quarter_of_inflow_to_the_legal_representative_fires(con, run):
    add_parties(con, [party("ORG_CO", legal_rep_id_no=BOSS_ID)])
    add_payments(con, company_paying_boss(250_000))
    [alert] = run("T10", AS_OF)
    assert alert.metrics["is_insider"] and alert.metrics["insider_share"] == 0.25
    assert "法定代表人" in alert.reason_zh


def test_insider_found_by_the_receiving_accounts_holder(con, run):
    add_parties(con, [party("ORG_CO", legal_rep_id_no=BOSS_ID), party("BOSS", id_no=BOSS_ID)])
    rows = [pay(f"P{i}", "ORG_CO", 20_000, day(i)) for i in range(50)]
    rows.append(pay("ORG_CO", "BOSS", 300_000, day(60)))
    add_payments(con, rows)
    assert [alert.subject for alert in run("T10", AS_OF)] == ["ORG_CO"]


def test_fifteen_percent_to_the_legal_representative_does_not_fire(con, run):
    add_parties(con, [party("ORG_CO", legal_rep_id_no=BOSS_ID)])
    add_payments(con, company_paying_boss(150_000))
    assert run("T10", AS_OF) == []


def hub_paying(recipients: int, amounts: list[float]) -> list[dict]:
    rows = [pay(f"INV{i}", "HUB", 20_000, day(i)) for i in range(50)]  # ¥1,000,000 from individuals
    rows += [
        pay("HUB", f"SALES{r}", amount, day(20 * k + r)) for r in range(recipients) for k, amount in enumerate(amounts)
    ]
    return rows


def test_varying_commissions_to_five_salespeople_fire(con, run):
    add_payments(con, hub_paying(5, [4_000, 9_000, 6_500]))
    [alert] = run("T10", AS_OF)
    assert alert.metrics["is_commission"] and alert.metrics["commission_recipients"] == 5


def test_four_salespeople_do_not_fire(con, run):
    add_payments(con, hub_paying(4, [4_000, 9_000, 6_500]))
    assert run("T10", AS_OF) == []


def test_commissions_beyond_a_tenth_of_the_inflow_do_not_fire(con, run):
    add_payments(con, hub_paying(5, [14_000, 19_000, 16_500]))  # ¥247,500 of ¥1,000,000
    assert run("T10", AS_OF) == []


def test_payroll_of_equal_monthly_salaries_is_not_a_commission(con, run):
    add_payments(con, hub_paying(8, [3_000, 3_000, 3_000]))
    assert run("T10", AS_OF) == []
