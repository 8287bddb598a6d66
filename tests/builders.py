"""A small, readable way for tests to put payments and parties straight into a warehouse.

    add_payments(con, [
        pay("P1", "HUB", 5000, day(3)),                                  # person → account, 10:00 on day 3
        pay("P2", "HUB", 5000, day(3, 23), payer_birth=date(1950, 1, 1), memo="投资款"),
        pay("HUB", None, 48000, day(4)),                                 # payee None: cash withdrawal
    ])
    add_parties(con, [party("SHOP", kind="ORG", occupation="零售", opened=date(2024, 1, 1))])

`pay(payer, payee, amount, time, **facts)` builds one row; any payments column can be given as a keyword.
Defaults: both ends are persons born 1980-01-01 in region `HOME_REGION`, unless the account name starts
with an upper-case "ORG" or "CO" (then ORG, no birth, region of the credit code); method TRANSFER, or CASH
when an end is None (cash has no account); payment ids p000001, p000002 … in the order added (pass
`payment_id=` to fix one). `day(n, hour=10, minute=0)` is a time n days after `BASE` (2025-01-01).
`add_payments` returns the payment ids it inserted.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

BASE = datetime(2025, 1, 1)
HOME_REGION = "330782"
DEFAULT_BIRTH = date(1980, 1, 1)
_ORG_PREFIXES = ("ORG", "CO")
_sequence = itertools.count(1)

PAYMENT_COLUMNS = (
    "payment_id",
    "out_txn_id",
    "in_txn_id",
    "match_method",
    "txn_time",
    "amount_cny",
    "payer_account",
    "payer_name",
    "payer_id_no",
    "payer_kind",
    "payer_birth",
    "payer_region",
    "payee_account",
    "payee_name",
    "payee_id_no",
    "payee_kind",
    "payee_birth",
    "payee_region",
    "method",
    "is_cash",
    "channel",
    "purpose",
    "memo",
    "place_code",
)
PARTY_COLUMNS = (
    "account_no",
    "institution_code",
    "holder_name",
    "holder_id_no",
    "holder_kind",
    "holder_birth",
    "holder_region",
    "holder_phone",
    "legal_rep_id_no",
    "agent_id_no",
    "occupation",
    "account_opened",
    "first_seen",
    "last_seen",
    "n_txn",
)


def day(n: float, hour: int = 10, minute: int = 0) -> datetime:
    """A time `n` days after BASE, at hour:minute."""
    return BASE + timedelta(days=n, hours=hour, minutes=minute)


def is_org(account: str | None) -> bool:
    return account is not None and account.startswith(_ORG_PREFIXES)


def _end_facts(account: str | None, side: str) -> dict[str, Any]:
    if account is None:
        return {f"{side}_kind": None, f"{side}_birth": None, f"{side}_region": None}
    if is_org(account):
        return {f"{side}_kind": "ORG", f"{side}_birth": None, f"{side}_region": HOME_REGION}
    return {f"{side}_kind": "PERSON", f"{side}_birth": DEFAULT_BIRTH, f"{side}_region": HOME_REGION}


def pay(payer: str | None, payee: str | None, amount: float, time: datetime, **facts: Any) -> dict[str, Any]:
    """One payment row; keywords override any payments column (payer_kind, payer_birth, memo, method, …)."""
    unknown = set(facts) - set(PAYMENT_COLUMNS)
    if unknown:
        raise TypeError(f"unknown payments columns: {sorted(unknown)}")
    cash = payer is None or payee is None
    row: dict[str, Any] = {
        "match_method": "one_leg",
        "txn_time": time,
        "amount_cny": amount,
        "payer_account": payer,
        "payer_name": payer,
        "payee_account": payee,
        "payee_name": payee,
        "method": "CASH" if cash else "TRANSFER",
        "is_cash": cash,
        **_end_facts(payer, "payer"),
        **_end_facts(payee, "payee"),
    }
    row.update(facts)
    if "method" in facts and "is_cash" not in facts:
        row["is_cash"] = facts["method"] == "CASH"
    return row


def add_payments(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> list[str]:
    """Insert payment rows (from `pay`) into `payments`; returns their payment ids."""
    records = []
    for row in rows:
        record = {column: row.get(column) for column in PAYMENT_COLUMNS}
        record["payment_id"] = record["payment_id"] or f"p{next(_sequence):06d}"
        records.append(record)
    _insert(con, "payments", PAYMENT_COLUMNS, records)
    return [record["payment_id"] for record in records]


def party(account: str, **facts: Any) -> dict[str, Any]:
    """One parties row: `kind`, `birth`, `region`, `opened`, `occupation`, `legal_rep_id_no`, `holder_id_no` …

    Short names map to the parties columns (kind → holder_kind, birth → holder_birth, region → holder_region,
    opened → account_opened); full column names work too.
    """
    short = {
        "kind": "holder_kind",
        "birth": "holder_birth",
        "region": "holder_region",
        "opened": "account_opened",
        "name": "holder_name",
        "id_no": "holder_id_no",
    }
    row: dict[str, Any] = {
        "account_no": account,
        "holder_name": account,
        "holder_kind": "ORG" if is_org(account) else "PERSON",
        "holder_region": HOME_REGION,
    }
    for key, value in facts.items():
        column = short.get(key, key)
        if column not in PARTY_COLUMNS:
            raise TypeError(f"unknown parties column: {key}")
        row[column] = value
    return row


def add_parties(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Insert parties rows (from `party`)."""
    _insert(con, "parties", PARTY_COLUMNS, rows)


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], rows: list[dict]) -> None:
    """Insert through an Arrow table (fast for thousands of rows); DuckDB casts to the table's types."""
    if not rows:
        return
    types = {
        "txn_time": pa.timestamp("us"),
        "first_seen": pa.timestamp("us"),
        "last_seen": pa.timestamp("us"),
        "amount_cny": pa.float64(),
        "is_cash": pa.bool_(),
        "n_txn": pa.int64(),
        "payer_birth": pa.date32(),
        "payee_birth": pa.date32(),
        "holder_birth": pa.date32(),
        "account_opened": pa.date32(),
    }
    schema = pa.schema([(column, types.get(column, pa.string())) for column in columns])
    staged = pa.Table.from_pylist([{column: row.get(column) for column in columns} for row in rows], schema=schema)
    con.register("staged_rows", staged)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM staged_rows")
    finally:
        con.unregister("staged_rows")


def person_id(birth: date, region: str = HOME_REGION, serial: int = 1) -> str:
    """A valid 18-digit resident ID for a person born on `birth` in `region` (GB 11643 check digit)."""
    body = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights))
    return body + "10X98765432"[total % 11]
