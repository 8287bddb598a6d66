"""Hand-built payment graphs for the graph-detector tests: rows straight into `payments`, then the seeds."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from detectors import neighbourhood
from detectors.base import Rule, Window

T0 = datetime(2025, 3, 1, 10, 0)
WINDOW = Window(as_of=date(2025, 6, 30), days=150)


class Payments:
    """Collects payments; account names starting with 'CO' are organisations, all others persons."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.births: dict[str, date] = {}
        self.regions: dict[str, str] = {}

    def person(self, account: str, birth: date | None = None, region: str | None = None) -> str:
        if birth:
            self.births[account] = birth
        if region:
            self.regions[account] = region
        return account

    def pay(self, payer: str | None, payee: str | None, amount: float, when: datetime, memo: str | None = None):
        payment_id = f"P{len(self.rows):06d}"
        self.rows.append(
            (
                payment_id,
                when,
                amount,
                payer,
                payer,
                f"ID-{payer}" if payer else None,
                self._kind(payer),
                self.births.get(payer),
                self.regions.get(payer),
                payee,
                payee,
                f"ID-{payee}" if payee else None,
                self._kind(payee),
                self.births.get(payee),
                self.regions.get(payee),
                "CASH" if payer is None or payee is None else "TRANSFER",
                payer is None or payee is None,
                memo,
            )
        )
        return payment_id

    @staticmethod
    def _kind(account: str | None) -> str | None:
        if account is None:
            return None
        return "ORG" if account.startswith("CO") else "PERSON"

    def insert(self, con, flagged=()) -> None:
        con.executemany(
            """
            INSERT INTO payments (payment_id, txn_time, amount_cny, payer_account, payer_name, payer_id_no,
                payer_kind, payer_birth, payer_region, payee_account, payee_name, payee_id_no, payee_kind,
                payee_birth, payee_region, method, is_cash, memo, match_method)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'match_no')
        """,
            self.rows,
        )
        neighbourhood.flag_accounts(con, flagged)


def rule_for(module, rule_id: str, typology: str | None = None, **params) -> Rule:
    return Rule(
        rule_id=rule_id,
        detector=module.__name__.rsplit(".", 1)[1],
        typology=typology or module.TYPOLOGY,
        title_zh="测试",
        title_en="test",
        weight=1.0,
        version="1",
        source="test",
        params=module.Params(**params),
    )


def days(n: float) -> timedelta:
    return timedelta(days=n)
