"""The DuckDB warehouse: schema, forward migrations, SQL macros, and the one way to open it.

One writer process at a time (a DuckDB limit); a second writer gets `WarehouseBusyError`.
Report lines live in `txn`; `payments` holds each money movement once, both ends described, and is
what the detectors read. Tables are created by numbered migrations applied in order.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.errors import WarehouseBusyError
from pipelines.idcodes import ID_WEIGHTS, USCC_WEIGHTS
from pipelines.settings import Settings

# The txn columns as migration 1 created them (migration 3 drops row_hash); migrations never change.
TXN_COLUMNS_V1_SQL = """
    txn_id VARCHAR NOT NULL,             -- md5(institution_code|txn_ref|direction|account_no)
    file_id VARCHAR NOT NULL,            -- sha256 of the source file
    row_no INTEGER NOT NULL,             -- row in the source file (header = row 1)
    report_kind VARCHAR NOT NULL,        -- LARGE | SUSPICIOUS
    institution_code VARCHAR NOT NULL,
    txn_ref VARCHAR NOT NULL,
    txn_time TIMESTAMP NOT NULL,         -- local time (settings.timezone)
    txn_date DATE NOT NULL,
    account_no VARCHAR NOT NULL,
    account_name VARCHAR NOT NULL,
    customer_id_type VARCHAR,
    customer_id_no VARCHAR,
    customer_kind VARCHAR,               -- PERSON | ORG | NULL (unknown)
    customer_birth DATE,
    customer_region VARCHAR,             -- 6-digit region code from the ID or credit code
    customer_phone VARCHAR,
    legal_rep_id_no VARCHAR,
    agent_id_no VARCHAR,
    customer_occupation VARCHAR,
    direction VARCHAR NOT NULL,          -- IN | OUT, for account_no
    amount DECIMAL(18,2) NOT NULL,
    currency VARCHAR NOT NULL,
    amount_cny DECIMAL(18,2),            -- NULL when the currency has no rate
    counterparty_account_no VARCHAR,     -- NULL for cash
    counterparty_name VARCHAR,
    counterparty_id_type VARCHAR,
    counterparty_id_no VARCHAR,
    counterparty_kind VARCHAR,           -- PERSON | ORG | NULL
    counterparty_birth DATE,
    counterparty_region VARCHAR,
    counterparty_institution VARCHAR,
    method VARCHAR NOT NULL,             -- CASH TRANSFER ONLINE POS ATM CROSS_BORDER OTHER
    is_cash BOOLEAN NOT NULL,
    channel VARCHAR,
    ip_address VARCHAR,
    device_code VARCHAR,
    purpose VARCHAR,
    memo VARCHAR,
    place_code VARCHAR,
    match_no VARCHAR,
    account_opened DATE,
    suspicion_code VARCHAR,
    suspicion_text VARCHAR,
    warnings VARCHAR[] NOT NULL,         -- soft findings: bad_id_checksum, bad_card_luhn, unknown_currency
    row_hash VARCHAR NOT NULL,           -- md5 of the row's content, to tell a resubmission from a copy
    loaded_at TIMESTAMP NOT NULL
"""

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        f"""
    CREATE TABLE files (
        file_id VARCHAR PRIMARY KEY,      -- sha256 of the bytes
        file_name VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        format VARCHAR NOT NULL,          -- csv | xlsx | xml
        encoding VARCHAR,
        institution_code VARCHAR,
        report_kind VARCHAR,
        arrived_at TIMESTAMP NOT NULL,
        rows_read INTEGER NOT NULL,
        rows_loaded INTEGER NOT NULL,
        rows_quarantined INTEGER NOT NULL,
        rows_replaced INTEGER NOT NULL,
        rows_duplicate INTEGER NOT NULL,
        rows_warned INTEGER NOT NULL
    );
    CREATE TABLE txn ({TXN_COLUMNS_V1_SQL});
    -- earlier versions of resubmitted rows, kept whole
    CREATE TABLE txn_versions ({TXN_COLUMNS_V1_SQL},
        replaced_by_file VARCHAR NOT NULL,
        replaced_by_row INTEGER NOT NULL,
        replaced_at TIMESTAMP NOT NULL);
    CREATE TABLE quarantine (
        file_id VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL,
        row_no INTEGER NOT NULL,
        field VARCHAR NOT NULL,
        reason_code VARCHAR NOT NULL,     -- missing_field bad_time bad_amount bad_direction future_time …
        message VARCHAR NOT NULL,
        raw_value VARCHAR,
        raw_row JSON,
        quarantined_at TIMESTAMP NOT NULL
    );
    CREATE TABLE fx_rates (currency VARCHAR PRIMARY KEY, cny_per_unit DECIMAL(18,6) NOT NULL);
    INSERT INTO fx_rates VALUES ('CNY', 1), ('USD', 7.1), ('EUR', 7.7), ('HKD', 0.91), ('JPY', 0.047),
        ('GBP', 9.0), ('AUD', 4.7), ('CAD', 5.2), ('SGD', 5.3), ('CHF', 8.1), ('KRW', 0.0052), ('MOP', 0.88),
        ('TWD', 0.22), ('NZD', 4.3), ('RUB', 0.08), ('THB', 0.2), ('MYR', 1.55);
    -- each money movement once; both ends described so detectors need no join
    CREATE TABLE payments (
        payment_id VARCHAR NOT NULL,
        out_txn_id VARCHAR,               -- the payer bank's report line, if reported
        in_txn_id VARCHAR,                -- the payee bank's report line, if reported
        match_method VARCHAR NOT NULL,    -- match_no | tolerance | one_leg
        txn_time TIMESTAMP NOT NULL,
        amount_cny DECIMAL(18,2),
        payer_account VARCHAR,            -- NULL: cash paid in
        payer_name VARCHAR,
        payer_id_no VARCHAR,
        payer_kind VARCHAR,
        payer_birth DATE,
        payer_region VARCHAR,
        payee_account VARCHAR,            -- NULL: cash paid out
        payee_name VARCHAR,
        payee_id_no VARCHAR,
        payee_kind VARCHAR,
        payee_birth DATE,
        payee_region VARCHAR,
        method VARCHAR NOT NULL,
        is_cash BOOLEAN NOT NULL,
        channel VARCHAR,
        purpose VARCHAR,
        memo VARCHAR,
        place_code VARCHAR
    );
    -- one row per account seen as a reporting customer: the holder facts the rules need
    CREATE TABLE parties (
        account_no VARCHAR PRIMARY KEY,
        institution_code VARCHAR,
        holder_name VARCHAR,
        holder_id_no VARCHAR,
        holder_kind VARCHAR,
        holder_birth DATE,
        holder_region VARCHAR,
        holder_phone VARCHAR,
        legal_rep_id_no VARCHAR,
        agent_id_no VARCHAR,
        occupation VARCHAR,
        account_opened DATE,
        first_seen TIMESTAMP,
        last_seen TIMESTAMP,
        n_txn BIGINT
    );
    -- accounts grouped by the people or organisations behind them (T9)
    CREATE TABLE actors (
        actor_id VARCHAR PRIMARY KEY,
        kind VARCHAR,
        name VARCHAR,
        id_no VARCHAR,
        n_accounts INTEGER,
        n_institutions INTEGER
    );
    CREATE TABLE actor_accounts (
        actor_id VARCHAR NOT NULL,
        account_no VARCHAR NOT NULL,
        link_reason VARCHAR NOT NULL      -- holder_id | legal_rep | phone | agent | device | ip
    );
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,            -- ingest | detect | nightly | backtest
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        status VARCHAR NOT NULL,          -- running | ok | failed
        as_of DATE,
        window_days INTEGER,
        rule_pack_hash VARCHAR,
        code_version VARCHAR,
        model_hash VARCHAR,
        summary JSON,
        error VARCHAR
    );
    CREATE TABLE run_inputs (run_id VARCHAR NOT NULL, file_id VARCHAR NOT NULL);
    CREATE TABLE alerts (
        alert_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        rule_id VARCHAR NOT NULL,
        rule_version VARCHAR NOT NULL,
        rule_pack_hash VARCHAR NOT NULL,
        typology VARCHAR NOT NULL,
        subject_kind VARCHAR NOT NULL,    -- account | actor
        subject VARCHAR NOT NULL,
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        metrics JSON NOT NULL,
        evidence VARCHAR[] NOT NULL,      -- payment ids
        score DOUBLE NOT NULL,
        reason_zh VARCHAR NOT NULL,
        reason_en VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    );
    -- connected groups of flagged accounts with their hub: what leads are made of
    CREATE TABLE rings (
        ring_id VARCHAR NOT NULL,         -- stable across runs for the same hub: md5 of the hub account
        run_id VARCHAR NOT NULL,
        hub_account VARCHAR NOT NULL,
        member_accounts VARCHAR[] NOT NULL,
        actor_ids VARCHAR[] NOT NULL,
        alert_ids VARCHAR[] NOT NULL,
        typologies VARCHAR[] NOT NULL,
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        total_in DECIMAL(18,2) NOT NULL,
        total_out DECIMAL(18,2) NOT NULL,
        individual_payers INTEGER NOT NULL,
        elderly_share DOUBLE NOT NULL,    -- share of individual payers aged 60+
        provinces VARCHAR[] NOT NULL,     -- 2-digit province codes of the payers
        score DOUBLE NOT NULL,
        evidence_payments VARCHAR[] NOT NULL  -- bounded evidence subgraph: the strongest flows
    );
    CREATE TABLE ring_members (
        ring_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        account_no VARCHAR NOT NULL,
        role VARCHAR NOT NULL             -- hub collector investor promoter controller other
    );
    """,
    ),
    (
        2,
        """
    -- every export file written: who, what, where, its sha256, and why when unmasked
    CREATE TABLE export_audit (
        "at" TIMESTAMP NOT NULL,
        "user" VARCHAR NOT NULL,
        what VARCHAR NOT NULL,            -- alerts | leads | campaign | dossier
        path VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        unmasked BOOLEAN NOT NULL,
        reason VARCHAR
    );
    """,
    ),
    (
        3,
        """
    -- a resubmitted row is now told from a copy by comparing its columns with the stored row's
    ALTER TABLE txn DROP COLUMN row_hash;
    ALTER TABLE txn_versions DROP COLUMN row_hash;
    """,
    ),
    (
        4,
        """
    -- files whose rows payments, parties and actors already reflect; a file in `files` but not here is
    -- pending: the next prepare brings the derived tables up to date from its rows (and what they replaced)
    CREATE TABLE prepared_files (file_id VARCHAR PRIMARY KEY, prepared_at TIMESTAMP NOT NULL);
    -- every value that can link an account to others (IDs, phone, device, IP), kept so actors can be
    -- brought up to date without rescanning txn
    CREATE TABLE account_keys (account_no VARCHAR NOT NULL, key VARCHAR NOT NULL, reason VARCHAR NOT NULL);
    """,
    ),
    (
        5,
        """
    -- why a ring holds what it holds: cores merged (core_to_core, same_actor) or a candidate group split
    CREATE TABLE ring_notes (
        ring_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,            -- core_to_core | same_actor | split
        detail JSON NOT NULL
    );
    """,
    ),
    (
        6,
        """
    -- who reported each leg, as the institutions' scorecard reads it (it joined txn twice for them: 24 s of a
    -- 10M-line scorecard). Emptying prepared_files makes the next prepare rebuild payments with them filled.
    ALTER TABLE payments ADD COLUMN out_institution VARCHAR;
    ALTER TABLE payments ADD COLUMN out_counterparty_institution VARCHAR;
    ALTER TABLE payments ADD COLUMN out_txn_ref VARCHAR;
    ALTER TABLE payments ADD COLUMN in_institution VARCHAR;
    ALTER TABLE payments ADD COLUMN in_counterparty_institution VARCHAR;
    ALTER TABLE payments ADD COLUMN in_txn_ref VARCHAR;
    DELETE FROM prepared_files;
    """,
    ),
    (
        7,
        """
    -- the window whose per-account features (detectors/scoring_features.sql) are kept in stored_features, so a
    -- night with little new data measures again only the accounts it changed; stored_features itself is made
    -- by the first measurement (its columns are the query's)
    CREATE TABLE feature_window (
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        as_of DATE NOT NULL,
        keywords VARCHAR NOT NULL,
        features_sql_hash VARCHAR NOT NULL,
        measured_at TIMESTAMP NOT NULL
    );
    -- accounts whose payments or holder facts changed since stored_features measured them (prepare adds them)
    CREATE TABLE changed_accounts (account_no VARCHAR NOT NULL);
    """,
    ),
    (
        8,
        """
    -- the alerts of a rule that reads only its window's payments, for each of its stepped windows in the last
    -- detect run: a window none of whose days changed since is not evaluated again (pipelines.detection)
    CREATE TABLE window_results (
        rule_id VARCHAR NOT NULL,
        rule_hash VARCHAR NOT NULL,       -- the rule's parameters and its detector's code
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        alerts JSON NOT NULL,
        kept_at TIMESTAMP NOT NULL
    );
    -- days with a payment added or removed since window_results were kept (prepare adds them)
    CREATE TABLE changed_days (day DATE NOT NULL);
    """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]
STORAGE_VERSION = "v1.5.0"


def _weighted_sum_sql(column: str, weights: tuple[int, ...], digit_sql: str) -> str:
    terms = [digit_sql.format(col=column, pos=pos + 1) + f" * {weight}" for pos, weight in enumerate(weights)]
    return "(" + " + ".join(terms) + ")"


def _luhn_sql(number: str, max_len: int = 19) -> str:
    """The Luhn sum of an integer of up to 19 digits, by arithmetic: far cheaper than cutting the text."""
    terms = []
    for place in range(max_len):
        digit = f"(({number}) // {10**place}::UBIGINT % 10)"
        # Every second digit from the right is doubled, and 9 taken off when that makes two digits.
        terms.append(digit if place % 2 == 0 else f"({digit} * 2 - 9 * ({digit} >= 5)::INTEGER)")
    return "(" + " + ".join(terms) + ")"


# Built from the same weights as pipelines.idcodes so the two cannot drift apart.
_ID_SUM = _weighted_sum_sql("s", ID_WEIGHTS, "TRY_CAST(substr({col}, {pos}, 1) AS INTEGER)")
_USCC_SUM = _weighted_sum_sql(
    "s", USCC_WEIGHTS, "(instr('0123456789ABCDEFGHJKLMNPQRTUWXY', substr({col}, {pos}, 1)) - 1)"
)

MACROS_SQL = f"""
CREATE OR REPLACE TEMP MACRO id18_birth(s) AS (
    CASE WHEN regexp_full_match(s, '[0-9]{{17}}[0-9Xx]')
         THEN TRY_CAST(try_strptime(substr(s, 7, 8), '%Y%m%d') AS DATE) END);
CREATE OR REPLACE TEMP MACRO id18_ok(s) AS (
    coalesce(regexp_full_match(s, '[0-9]{{17}}[0-9Xx]') AND id18_birth(s) IS NOT NULL
        AND upper(substr(s, 18, 1)) = substr('10X98765432', ({_ID_SUM} % 11) + 1, 1), false));
CREATE OR REPLACE TEMP MACRO uscc_ok(s) AS (
    coalesce(regexp_full_match(upper(s), '[0-9A-HJ-NP-RT-UW-Y]{{18}}')
        AND substr(upper(s), 18, 1) = substr('0123456789ABCDEFGHJKLMNPQRTUWXY',
            ((31 - ({_USCC_SUM.replace("substr(s", "substr(upper(s)")} % 31)) % 31) + 1, 1), false));
CREATE OR REPLACE TEMP MACRO luhn_ok(s) AS (
    coalesce(regexp_full_match(s, '[0-9]{{12,19}}') AND {_luhn_sql("TRY_CAST(s AS UBIGINT)")} % 10 = 0, false));
-- PERSON when the ID type says resident ID or the number reads as one; ORG for a credit code
CREATE OR REPLACE TEMP MACRO party_kind(id_type, id_no) AS (
    CASE
        WHEN id_type IN ('居民身份证', '身份证', 'ID', 'ID_CARD', '110001', '110003', '1', '01') THEN 'PERSON'
        WHEN id_type IN ('统一社会信用代码', 'USCC', '营业执照', '组织机构代码', '610001', '610099', '21')
            THEN 'ORG'
        WHEN id18_birth(id_no) IS NOT NULL THEN 'PERSON'
        WHEN regexp_full_match(upper(id_no), '[0-9A-HJ-NP-RT-UW-Y]{{18}}') THEN 'ORG'
    END);
CREATE OR REPLACE TEMP MACRO party_region(id_no) AS (
    CASE
        WHEN id18_birth(id_no) IS NOT NULL THEN substr(id_no, 1, 6)
        WHEN regexp_full_match(upper(id_no), '[0-9A-HJ-NP-RT-UW-Y]{{18}}') THEN substr(id_no, 3, 6)
    END);
"""


def connect(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, apply pending migrations, and define the SQL macros."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.tmp.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        # Used when the file is created; the file keeps it. v1.5 storage has DICT_FSST string compression,
        # which writes large loads about a third faster than the v0.10 default at the same file size.
        "storage_compatibility_version": STORAGE_VERSION,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.tmp),
    }
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusyError(
                f"数据仓库正被另一进程写入，请稍后重试 / the warehouse is in use by another process: "
                f"{settings.warehouse_path}"
            ) from None
        raise
    # ICU's TimeZone option is unknown to duckdb.connect's config; it can only be SET once connected.
    con.execute("SET TimeZone = ?", [settings.timezone])
    if not read_only:
        migrate(con)
    con.execute(MACROS_SQL)
    return con


def connect_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the full schema (tests and one-off checks)."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    migrate(con)
    con.execute(MACROS_SQL)
    return con


class NotInstalled(importlib.abc.MetaPathFinder):
    """Says at once that a module this environment lacks is not installed, instead of searching sys.path again.

    DuckDB looks for pandas on every bound parameter (and twice per element of a bound list), and Python keeps
    no record of a failed import, so each look walks sys.path: ~0.1 ms, 128,000 looks in one 80-scheme night's
    publishing before lists went through Arrow (`registered`)."""

    def __init__(self, names: frozenset[str]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


if not any(isinstance(finder, NotInstalled) for finder in sys.meta_path):
    sys.meta_path.insert(
        0, NotInstalled(frozenset(name for name in ("pandas",) if importlib.util.find_spec(name) is None))
    )


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """`table` as the relation `name` inside the block. Lists reach a query this way, not as parameters: DuckDB
    binding a Python list parameter tries to import pandas twice for every element (about 0.1 ms each)."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def listed(con: duckdb.DuckDBPyConnection, name: str, values: list[str]) -> AbstractContextManager[None]:
    """`values` as the one-column relation `name` (column `value`) inside the block (see `registered`)."""
    return registered(con, name, pa.table({"value": pa.array(values, type=pa.string())}))


def drop_temp_tables(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Clean-up after a block that staged temp tables. If a statement of the block failed inside a transaction,
    the transaction is aborted and refuses the DROP (the rollback takes the tables with it): that refusal must
    not replace the first error, which is the one to report (a 10M-line prepare's out-of-memory error was shown
    as "transaction is aborted")."""
    with contextlib.suppress(duckdb.TransactionException):
        for name in names:
            con.execute(f"DROP TABLE IF EXISTS {name}")


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The row of a query that always returns one (aggregates such as count(*) or max(...))."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"query returned no row: {' '.join(sql.split())[:80]}")
    return row


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The single value of a one-row query."""
    return one_row(con, sql, params)[0]


def rows_that_differ(before_sql: str, after_sql: str) -> str:
    """SQL for the rows in one of two queries and not the other (a row there twice and once counts once)."""
    return f"(({before_sql}) EXCEPT ALL ({after_sql})) UNION ALL (({after_sql}) EXCEPT ALL ({before_sql}))"


def mark_changed_accounts(con: duckdb.DuckDBPyConnection, accounts_sql: str) -> None:
    """Record the accounts `accounts_sql` selects (column account_no) for the stored features, whose rows for
    them are out of date; nothing to record while no features are stored."""
    con.execute(f"""
        INSERT INTO changed_accounts
        SELECT DISTINCT account_no FROM ({accounts_sql})
        WHERE account_no IS NOT NULL AND account_no NOT IN (SELECT account_no FROM changed_accounts)
          AND EXISTS (SELECT 1 FROM feature_window)""")


def mark_changed_payments(con: duckdb.DuckDBPyConnection, rows_sql: str) -> None:
    """Record what the payment rows `rows_sql` selects (added or removed) touch: their accounts for the stored
    features and their days for the kept window results."""
    mark_changed_accounts(
        con, f"SELECT payer_account AS account_no FROM ({rows_sql}) UNION ALL SELECT payee_account FROM ({rows_sql})"
    )
    con.execute(f"""
        INSERT INTO changed_days
        SELECT DISTINCT CAST(txn_time AS DATE) AS day FROM ({rows_sql})
        EXCEPT SELECT day FROM changed_days""")


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP)")
    current = scalar(con, "SELECT coalesce(max(version), 0) FROM schema_version")
    for version, sql in MIGRATIONS:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, current_timestamp)", [version])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        current = version
    return current


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
