"""Validation of a staged file in SQL: parsed values, hard errors and soft findings per row.

Hard errors (one per row and field, with a stable reason_code) send the row to quarantine; soft findings
(`warnings`) load it with a flag. The result is the temp table `ingest_checked`, one row per record.
Facts that depend only on an ID or account number are worked out once per distinct number.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipelines.ingest.columns import CANONICAL, DIRECTIONS, METHODS, REPORT_KINDS
from pipelines.ingest.staged import Staged
from pipelines.vocabulary import QUARANTINE_REASONS

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S")
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S")
AMOUNT_PATTERN = r"[+-]?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]{1,2})?"


# Stripped from both ends of every cell: ASCII, no-break and full-width (ideographic) spaces.
SPACES = " \u00a0\u3000"

# (party, id type column, id number column) for the two ends of a report line.
PARTIES = (
    ("customer", "customer_id_type", "customer_id_no"),
    ("counterparty", "counterparty_id_type", "counterparty_id_no"),
)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_text(item) for item in items) + "]"


def _vocabulary(name: str, vocabulary: dict[str, str]) -> str:
    """A CTE of (word, value) to look a value up by a join."""
    pairs = ", ".join(f"({_text(word.upper())}, {_text(value)})" for word, value in vocabulary.items())
    return f"{name}(word, value) AS (VALUES {pairs})"


def _cleaned(staged: Staged, name: str) -> str:
    """A staged column's text without surrounding spaces; empty and `@N` become NULL."""
    if name not in staged.columns:
        return "NULL::VARCHAR"
    column = staged.raw_columns[staged.columns[name]][1]
    # trim() decodes every character; most cells have no surrounding space, so only the others go through it.
    starts = f"ascii({column}) IN ({', '.join(str(ord(space)) for space in SPACES)})"
    ends = " OR ".join(f"ends_with({column}, {_text(space)})" for space in SPACES)
    trimmed = f"CASE WHEN {starts} OR {ends} THEN trim({column}, {_text(SPACES)}) ELSE {column} END"
    return f"nullif(nullif({trimmed}, ''), '@N')"


def _errors() -> list[tuple[str, str, str, str]]:
    """(condition, field, reason_code, raw value) for every hard error, over the `parsed` CTE."""
    return [
        ("report_kind IS NULL AND kind_v IS NULL", "report_kind", "missing_field", "NULL"),
        ("report_kind IS NOT NULL AND kind_v IS NULL", "report_kind", "bad_report_kind", "report_kind"),
        ("institution_v IS NULL", "institution_code", "missing_field", "NULL"),
        (
            "NOT regexp_full_match(institution_v, '[0-9A-Za-z]{1,16}')",
            "institution_code",
            "bad_institution_code",
            "institution_v",
        ),
        ("txn_ref IS NULL", "txn_ref", "missing_field", "NULL"),
        ("account_no IS NULL", "account_no", "missing_field", "NULL"),
        ("account_name IS NULL", "account_name", "missing_field", "NULL"),
        ("txn_time IS NULL", "txn_time", "missing_field", "NULL"),
        ("txn_time IS NOT NULL AND time_v IS NULL", "txn_time", "bad_time", "txn_time"),
        ("time_v > $now", "txn_time", "future_time", "txn_time"),
        ("direction IS NULL", "direction", "missing_field", "NULL"),
        ("direction IS NOT NULL AND direction_v IS NULL", "direction", "bad_direction", "direction"),
        ("amount IS NULL", "amount", "missing_field", "NULL"),
        ("amount IS NOT NULL AND amount_v IS NULL", "amount", "bad_amount", "amount"),
        ("amount_v <= 0", "amount", "non_positive_amount", "amount"),
        ("amount_v > 0 AND rate IS NOT NULL AND cny_v IS NULL", "amount", "bad_amount", "amount"),
    ]


def _warnings() -> list[tuple[str, str]]:
    """(condition, warning) for every soft finding, over the `parsed` CTE."""
    return [
        ("customer_id_bad OR counterparty_id_bad", "bad_id_checksum"),
        (
            "account_no IN (SELECT account FROM ingest_bad_cards) "
            "OR counterparty_account_no IN (SELECT account FROM ingest_bad_cards)",
            "bad_card_luhn",
        ),
        ("rate IS NULL", "unknown_currency"),
        ("method IS NOT NULL AND method_v IS NULL", "unknown_method"),
        ("account_opened IS NOT NULL AND opened_v IS NULL", "bad_account_opened"),
    ]


def _flag_list(items: list[tuple[str, str]]) -> str:
    """A list of what holds, built only for rows where something does (most rows have nothing)."""
    any_holds = " OR ".join(f"coalesce({condition}, false)" for condition, _ in items)
    listed = ", ".join(f"CASE WHEN {condition} THEN {value} END" for condition, value in items)
    return f"CASE WHEN {any_holds} THEN list_filter([{listed}], item -> item IS NOT NULL) ELSE [] END"


def check(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    default_kind: str | None,
    default_institution: str | None,
    now: datetime,
) -> None:
    """Create `ingest_checked` from the staged relation."""
    column = {name: _cleaned(staged, name) for name in CANONICAL}
    # Distinct numbers first, in their own statements, so the costly checks run once per number.
    id_pairs = " UNION ".join(
        f"SELECT {column[id_type]} AS id_type, {column[id_no]} AS id_no FROM {staged.relation}"
        for _, id_type, id_no in PARTIES
    )
    con.execute(f"CREATE TEMP TABLE ingest_id_values AS {id_pairs}")
    con.execute("""CREATE TEMP TABLE ingest_ids AS
        SELECT id_type, id_no, kind, id18_birth(id_no) AS birth, party_region(id_no) AS region,
            coalesce((kind = 'PERSON' AND NOT id18_ok(id_no))
                     OR (kind = 'ORG' AND length(id_no) = 18 AND NOT uscc_ok(id_no)), false) AS bad
        FROM (SELECT *, party_kind(id_type, id_no) AS kind FROM ingest_id_values)""")
    accounts = " UNION ".join(
        f"SELECT {column[name]} AS account FROM {staged.relation}" for name in ("account_no", "counterparty_account_no")
    )
    con.execute(f"CREATE TEMP TABLE ingest_accounts AS {accounts}")
    con.execute("""CREATE TEMP TABLE ingest_bad_cards AS SELECT account FROM ingest_accounts
        WHERE regexp_full_match(account, '[0-9]{16,19}') AND NOT luhn_ok(account)""")
    con.execute(
        checked_sql(staged), {"default_kind": default_kind, "default_institution": default_institution, "now": now}
    )


def raw_rows_sql(staged: Staged) -> str:
    """The raw cells of the rows `ingest_checked` found errors in, as JSON keyed by header: kept with quarantine."""
    pairs = ", ".join(f"{_text(header)}, {column}" for header, column in staged.raw_columns)
    return f"""CREATE TEMP TABLE ingest_raw_rows AS
        SELECT row_no, json_object({pairs}) AS raw_row
        FROM (SELECT {staged.row_no_sql} AS row_no, * FROM {staged.relation} AS src)
        WHERE row_no IN (SELECT row_no FROM ingest_checked WHERE len(errors) > 0 UNION ALL SELECT row_no FROM ingest_dups)"""


def checked_sql(staged: Staged) -> str:
    cleaned = ", ".join(f"{_cleaned(staged, name)} AS {name}" for name in CANONICAL)
    errors = [
        (
            condition,
            f"{{'field': {_text(field)}, 'reason_code': {_text(code)}, 'message': {_text(QUARANTINE_REASONS[code])}, "
            f"'raw_value': {raw}}}",
        )
        for condition, field, code, raw in _errors()
    ]
    if staged.problem_sql:
        code = "numeric_identifier"
        errors.append(
            (
                "problem_field IS NOT NULL",
                f"{{'field': problem_field, 'reason_code': {_text(code)}, 'message': {_text(QUARANTINE_REASONS[code])}, "
                f"'raw_value': problem_raw}}",
            )
        )
    problem = (
        "src.problem_field, src.problem_raw"
        if staged.problem_sql
        else "NULL::VARCHAR AS problem_field, NULL::VARCHAR AS problem_raw"
    )
    warnings = [(condition, _text(code)) for condition, code in _warnings()]
    party_joins = "\n    ".join(
        f"LEFT JOIN ingest_ids {party}_ids ON {party}_ids.id_type IS NOT DISTINCT FROM cleaned.{id_type} "
        f"AND {party}_ids.id_no IS NOT DISTINCT FROM cleaned.{id_no}"
        for party, id_type, id_no in PARTIES
    )
    party_facts = ",\n        ".join(
        f"{party}_ids.kind AS {party}_kind, {party}_ids.birth AS {party}_birth, "
        f"{party}_ids.region AS {party}_region, {party}_ids.bad AS {party}_id_bad"
        for party, _, _ in PARTIES
    )
    return f"""
CREATE TEMP TABLE ingest_checked AS
WITH {_vocabulary("kinds", REPORT_KINDS)},
{_vocabulary("directions", DIRECTIONS)},
{_vocabulary("methods", METHODS)},
cleaned AS (
    SELECT {staged.row_no_sql} AS row_no, {problem}, {cleaned} FROM {staged.relation} AS src
), parsed AS (
    SELECT cleaned.*,
        CASE WHEN cleaned.report_kind IS NULL THEN $default_kind ELSE kinds.value END AS kind_v,
        coalesce(cleaned.institution_code, $default_institution) AS institution_v,
        try_strptime(cleaned.txn_time, {_list(TIME_FORMATS)}) AS time_v,
        CASE WHEN regexp_full_match(cleaned.amount, {_text(AMOUNT_PATTERN)})
             THEN TRY_CAST(replace(cleaned.amount, ',', '') AS DECIMAL(18,2)) END AS amount_v,
        directions.value AS direction_v,
        methods.value AS method_v,
        upper(coalesce(cleaned.currency, 'CNY')) AS currency_v,
        fx.cny_per_unit AS rate,
        -- DECIMAL(18) times DECIMAL(18) overflows in DuckDB from ¥10 billion: multiply wide, then narrow.
        TRY_CAST(CAST(amount_v AS DECIMAL(38,2)) * fx.cny_per_unit AS DECIMAL(18,2)) AS cny_v,
        TRY_CAST(try_strptime(cleaned.account_opened, {_list(DATE_FORMATS)}) AS DATE) AS opened_v,
        {party_facts}
    FROM cleaned
    LEFT JOIN kinds ON kinds.word = upper(cleaned.report_kind)
    LEFT JOIN directions ON directions.word = upper(cleaned.direction)
    LEFT JOIN methods ON methods.word = upper(cleaned.method)
    LEFT JOIN fx_rates fx ON fx.currency = upper(coalesce(cleaned.currency, 'CNY'))
    {party_joins}
), judged AS (
    SELECT *, {_flag_list(errors)} AS errors, {_flag_list(warnings)} AS warnings FROM parsed
)
SELECT
    row_no,
    errors,
    warnings,
    md5(concat_ws('|', institution_v, txn_ref, direction_v, account_no)) AS txn_id,
    kind_v AS report_kind,
    institution_v AS institution_code,
    txn_ref,
    time_v AS txn_time,
    CAST(time_v AS DATE) AS txn_date,
    account_no,
    account_name,
    customer_id_type,
    customer_id_no,
    customer_kind,
    customer_birth,
    customer_region,
    customer_phone,
    legal_rep_id_no,
    agent_id_no,
    customer_occupation,
    direction_v AS direction,
    amount_v AS amount,
    currency_v AS currency,
    cny_v AS amount_cny,
    counterparty_account_no,
    counterparty_name,
    counterparty_id_type,
    counterparty_id_no,
    counterparty_kind,
    counterparty_birth,
    counterparty_region,
    counterparty_institution,
    coalesce(method_v, 'OTHER') AS method,
    coalesce(method_v, 'OTHER') = 'CASH' AS is_cash,
    channel,
    ip_address,
    device_code,
    purpose,
    memo,
    place_code,
    match_no,
    opened_v AS account_opened,
    suspicion_code,
    suspicion_text
FROM judged
"""
