"""Reporting institutions' scorecard: who reports what, how cleanly, how late, and what they did not report.

Computed in DuckDB from what the warehouse already holds (files, txn, txn_versions, quarantine, payments), with
the leads' accounts read from the case store. Files count in the period of the last transaction they report;
line measures (soft findings, completeness, timeliness) count lines by transaction date; coverage counts
payments by date. Working days come from `rules/institutions/holidays.yaml`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from pipelines.cases.store import CaseStore, events, lead_accounts, lead_payments, leads
from pipelines.errors import FundflowError
from pipelines.evaluation.institution_rules import ScorecardRules, WorkCalendar
from pipelines.warehouse import db as warehouse

log = logging.getLogger("fundflow.institutions")

SOFT_FINDINGS = ("bad_id_checksum", "bad_card_luhn", "unknown_currency")
# Fields the detectors need, and which lines are expected to have them (cash has no counterparty).
COMPLETENESS_FIELDS = {
    "counterparty_account_no": "NOT is_cash",
    "counterparty_name": "NOT is_cash",
    "customer_id_no": "true",
    "counterparty_id_no": "NOT is_cash",
    "match_no": "NOT is_cash",
    "memo": "true",
    "place_code": "true",
}
UNKNOWN_INSTITUTION = "?"


@dataclass(frozen=True)
class Period:
    key: str
    """`2025-03`, `2025Q1` or `2025`: how the period was asked for, and how outputs name it."""
    start: date
    end: date
    """Last day, inclusive."""
    label: str


def parse_period(text: str) -> Period:
    """A month (`2025-03`, `202503`), a quarter (`2025Q1`) or a year (`2025`)."""
    text = (text or "").strip().upper()
    if match := re.fullmatch(r"(\d{4})-?(0[1-9]|1[0-2])", text):
        year, month = int(match[1]), int(match[2])
        end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        return Period(f"{year}-{month:02d}", date(year, month, 1), end, f"{year}年{month}月")
    if match := re.fullmatch(r"(\d{4})Q([1-4])", text):
        year, quarter = int(match[1]), int(match[2])
        end = date(year + quarter // 4, (3 * quarter) % 12 + 1, 1) - timedelta(days=1)
        return Period(f"{year}Q{quarter}", date(year, 3 * quarter - 2, 1), end, f"{year}年第{quarter}季度")
    if re.fullmatch(r"\d{4}", text):
        return Period(text, date(int(text), 1, 1), date(int(text), 12, 31), f"{text}年")
    raise FundflowError(f"统计期间应为 2025-03（月）、2025Q1（季度）或 2025（年）/ bad period: '{text}'")


def month_of(day: date) -> Period:
    return parse_period(f"{day.year}-{day.month:02d}")


def quarter_of(day: date) -> Period:
    return parse_period(f"{day.year}Q{(day.month - 1) // 3 + 1}")


@dataclass
class Scorecard:
    period: Period
    as_of: date
    """Last day the 'no file for N working days' figure is counted to: the period's end, or today if earlier."""
    summary: list[dict]
    """One row per reporting institution (every institution that ever sent a file)."""
    tables: dict[str, list[dict]] = field(default_factory=dict)
    """Detail per measure: files, quarantine, soft_findings, completeness, timeliness, coverage, missed."""
    notes: list[str] = field(default_factory=list)

    def alerts(self) -> list[dict]:
        """Institutions with at least one figure past its bar: institution_code, crossed [(measure, value, bar)]."""
        return [
            {"institution_code": row["institution_code"], "crossed": row["crossed"]}
            for row in self.summary
            if row["crossed"]
        ]


# --- the case store: accounts the office's findings put in leads ----------------------------------------


def lead_suspects(store: CaseStore, roles: tuple[str, ...]) -> list[dict]:
    """Accounts in `roles` of leads not found lawful (never moved to NOT_ILLEGAL) and not merged away,
    each with the first time its evidence shows it moving money."""
    lawful = sa.select(events.c.lead_id).where(events.c.to_status == "NOT_ILLEGAL")
    moved = sa.union_all(
        sa.select(lead_payments.c.lead_id, lead_payments.c.payer_account.label("account_no"), lead_payments.c.txn_time),
        sa.select(lead_payments.c.lead_id, lead_payments.c.payee_account.label("account_no"), lead_payments.c.txn_time),
    ).subquery()
    first = (
        sa.select(moved.c.lead_id, moved.c.account_no, sa.func.min(moved.c.txn_time).label("first_evidence"))
        .group_by(moved.c.lead_id, moved.c.account_no)
        .subquery()
    )
    query = (
        sa.select(
            lead_accounts.c.lead_id,
            lead_accounts.c.account_no,
            lead_accounts.c.account_name,
            lead_accounts.c.institution,
            lead_accounts.c.role,
            leads.c.status,
            first.c.first_evidence,
        )
        .join(leads, leads.c.lead_id == lead_accounts.c.lead_id)
        .outerjoin(
            first, sa.and_(first.c.lead_id == lead_accounts.c.lead_id, first.c.account_no == lead_accounts.c.account_no)
        )
        .where(
            lead_accounts.c.role.in_(roles),
            leads.c.status.not_in(("MERGED", "NOT_ILLEGAL")),
            leads.c.lead_id.not_in(lawful),
        )
        .order_by(lead_accounts.c.lead_id, lead_accounts.c.account_no)
    )
    with store.read() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


# --- the warehouse ---------------------------------------------------------------------------------------

FILES_SQL = """
CREATE OR REPLACE TEMP TABLE sc_files AS
WITH lines AS (
    SELECT file_id, max(txn_date) AS last_txn
    FROM (SELECT file_id, txn_date FROM txn UNION ALL SELECT file_id, txn_date FROM txn_versions)
    GROUP BY file_id)
SELECT f.file_id, f.file_name, coalesce(f.institution_code, '?') AS institution_code,
       coalesce(f.report_kind, '?') AS report_kind, f.arrived_at, CAST(f.arrived_at AS DATE) AS arrived_on,
       f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_warned, f.rows_replaced, l.last_txn,
       coalesce(l.last_txn, CAST(f.arrived_at AS DATE)) AS report_date
FROM files f LEFT JOIN lines l USING (file_id)
"""

FILE_KINDS_SQL = """
SELECT institution_code, report_kind, count(*) AS files, sum(rows_read) AS lines, sum(rows_loaded) AS loaded,
       sum(rows_quarantined) AS quarantined, sum(rows_warned) AS warned, sum(rows_replaced) AS replaced,
       min(arrived_at) AS first_arrival, max(arrived_at) AS last_arrival
FROM sc_files WHERE report_date BETWEEN $start AND $end
GROUP BY ALL ORDER BY ALL
"""

QUARANTINE_SQL = """
SELECT f.institution_code, q.reason_code, count(DISTINCT q.file_id || '|' || q.row_no) AS rows
FROM quarantine q JOIN sc_files f USING (file_id)
WHERE f.report_date BETWEEN $start AND $end
GROUP BY ALL ORDER BY ALL
"""

SOFT_SQL = """
SELECT institution_code, warning, count(*) AS lines
FROM (SELECT institution_code, unnest(warnings) AS warning FROM txn WHERE txn_date BETWEEN $start AND $end)
GROUP BY ALL ORDER BY ALL
"""


def _completeness_sql() -> str:
    shares = ",\n       ".join(
        f"avg((nullif(trim({name}), '') IS NOT NULL)::INTEGER) FILTER (WHERE {expected}) AS {name}"
        for name, expected in COMPLETENESS_FIELDS.items()
    )
    return f"""
SELECT institution_code, count(*) AS lines, count(*) FILTER (WHERE len(warnings) > 0) AS warned_lines,
       {shares}
FROM txn WHERE txn_date BETWEEN $start AND $end
GROUP BY ALL ORDER BY ALL
"""


# Each line is timed by the first file that brought it (a resubmission does not make it late).
TIMELINESS_SQL = """
CREATE OR REPLACE TEMP TABLE sc_lags AS
WITH in_period AS (SELECT txn_id, file_id, txn_date, report_kind, institution_code FROM txn
                   WHERE txn_date BETWEEN $start AND $end),
     -- only a line sent more than once needs its files compared (grouping every line took 6 s at 10M)
     replaced AS (SELECT txn_id, file_id FROM txn_versions WHERE txn_id IN (SELECT txn_id FROM in_period)),
     versions AS (SELECT txn_id, file_id FROM replaced
                  UNION ALL SELECT txn_id, file_id FROM in_period WHERE txn_id IN (SELECT txn_id FROM replaced)),
     earliest AS (SELECT v.txn_id, arg_min(f.file_id, f.arrived_at) AS file_id
                  FROM versions v JOIN sc_files f USING (file_id) GROUP BY v.txn_id),
-- lines counted per file and due day before the calendar is joined: the joins then see thousands of rows, not
-- every line of the period (10 s at 10M lines); a line sent once is counted where it is, without a join
per_file_day AS (SELECT institution_code, report_kind, file_id, txn_date, sum(lines) AS lines FROM (
                     SELECT institution_code, report_kind, file_id, txn_date, count(*) AS lines
                     FROM in_period ANTI JOIN earliest USING (txn_id) GROUP BY ALL
                     UNION ALL
                     SELECT p.institution_code, p.report_kind, e.file_id, p.txn_date, count(*)
                     FROM in_period p JOIN earliest e USING (txn_id) GROUP BY ALL)
                 GROUP BY ALL)
SELECT p.institution_code, p.report_kind, f.file_name, f.arrived_on,
       CASE WHEN p.report_kind = 'SUSPICIOUS' THEN f.last_txn ELSE p.txn_date END AS due_from,
       greatest(ca.work_no - cd.work_no, 0) AS lag,
       CASE WHEN p.report_kind = 'SUSPICIOUS' THEN $suspicious_deadline ELSE $large_deadline END AS deadline,
       p.lines
FROM per_file_day p JOIN sc_files f ON f.file_id = p.file_id
JOIN sc_calendar ca ON ca.d = f.arrived_on
JOIN sc_calendar cd ON cd.d = CASE WHEN p.report_kind = 'SUSPICIOUS' THEN f.last_txn ELSE p.txn_date END
"""

# The median lag of the lines from sc_lags' counts: the mean of the values at the two middle positions (one when
# the count is odd), as DuckDB's median of the lines themselves gives.
TIMELINESS_SUMMARY_SQL = """
WITH counted AS (
    SELECT institution_code, report_kind, lag, sum(lines) AS n FROM sc_lags GROUP BY ALL
),
placed AS (
    SELECT *, sum(n) OVER (PARTITION BY institution_code, report_kind ORDER BY lag) - n AS before,
           sum(n) OVER (PARTITION BY institution_code, report_kind) AS total
    FROM counted
),
middle AS (
    SELECT institution_code, report_kind,
           max(lag) FILTER (WHERE before <= (total - 1) // 2) AS lower_middle,
           min(lag) FILTER (WHERE before + n > total // 2) AS upper_middle
    FROM placed GROUP BY ALL
)
SELECT institution_code, report_kind, sum(lines) AS lines, coalesce(sum(lines) FILTER (WHERE lag > deadline), 0)
       AS late_lines, any_value(deadline) AS deadline, any_value((lower_middle + upper_middle) / 2) AS median_lag,
       max(lag) AS max_lag
FROM sc_lags JOIN middle USING (institution_code, report_kind) GROUP BY ALL ORDER BY ALL
"""

# Which reporting institution holds an account: where it was last seen as a customer; failing that, what the
# counterparty code on the other side's line stands for (a code is either a reporter's own code, or one whose
# accounts are seen at one reporter — a payment-system bank code, say).
INSTITUTION_OF_SQL = """
CREATE OR REPLACE TEMP TABLE sc_account_institution AS
    SELECT account_no, arg_max(institution_code, txn_time) AS institution_code FROM txn GROUP BY account_no;
CREATE OR REPLACE TEMP TABLE sc_reporters AS SELECT DISTINCT institution_code FROM sc_files;
CREATE OR REPLACE TEMP TABLE sc_code_institution AS
    SELECT institution_code AS code, institution_code FROM sc_reporters
    UNION ALL
    SELECT code, institution_code FROM (
        SELECT code, institution_code,
               row_number() OVER (PARTITION BY code ORDER BY lines DESC, institution_code) AS choice
        FROM (SELECT t.counterparty_institution AS code, a.institution_code, count(*) AS lines
              FROM txn t JOIN sc_account_institution a ON a.account_no = t.counterparty_account_no
              WHERE t.counterparty_institution IS NOT NULL
                AND t.counterparty_institution NOT IN (SELECT institution_code FROM sc_reporters)
              GROUP BY 1, 2))
    WHERE choice = 1;
"""

# Each transfer between two accounts in the period. Who reported each leg is on the payment
# (pipelines.warehouse.reconcile), so txn is not read again here. A view, so that each query reading it scans only
# its own columns (making it a table took 3 s at 10M lines); a view holds no parameters, so the period's first day
# and the day after its last are written in ({start} and {stop}, both dates).
TRANSFERS_SQL = """
CREATE OR REPLACE TEMP VIEW sc_transfers AS
SELECT p.payment_id, CAST(p.txn_time AS DATE) AS day, p.txn_time, p.amount_cny, p.method,
       p.payer_account, p.payee_account, p.payer_kind, p.payee_kind, p.payer_name, p.payee_name,
       p.out_txn_id IS NOT NULL AS out_present, p.in_txn_id IS NOT NULL AS in_present,
       p.out_institution, p.out_counterparty_institution AS out_counterparty_code, p.out_txn_ref,
       p.in_institution, p.in_counterparty_institution AS in_counterparty_code, p.in_txn_ref
FROM payments p
WHERE p.txn_time >= DATE '{start}' AND p.txn_time < DATE '{stop}' AND NOT p.is_cash
  AND p.payer_account IS NOT NULL AND p.payee_account IS NOT NULL
"""

# The institution answering for one end of a transfer: the one that reported it; failing that, where the account
# was last seen as a customer; failing that, what the other side's counterparty code stands for.
_SIDE_INSTITUTION = "coalesce({own}, a.institution_code, c.institution_code)"

# The ends of transfers their own institution did not report, with who answers for them (a few per cent of the
# sides: materialising every side with its names took 12 s of a 25 s quarter at 10M lines).
UNREPORTED_SIDES_SQL = f"""
CREATE OR REPLACE TEMP TABLE sc_unreported_sides AS
SELECT t.payment_id, t.day, t.txn_time, t.amount_cny, 'OUT' AS direction, t.payer_account AS account_no,
       t.payer_name AS account_name, {_SIDE_INSTITUTION.format(own="t.out_institution")} AS institution_code,
       t.in_institution AS other_institution, t.in_txn_ref AS other_txn_ref
FROM sc_transfers t
LEFT JOIN sc_account_institution a ON a.account_no = t.payer_account
LEFT JOIN sc_code_institution c ON c.code = t.in_counterparty_code
WHERE NOT t.out_present
UNION ALL
SELECT t.payment_id, t.day, t.txn_time, t.amount_cny, 'IN', t.payee_account, t.payee_name,
       {_SIDE_INSTITUTION.format(own="t.in_institution")}, t.out_institution, t.out_txn_ref
FROM sc_transfers t
LEFT JOIN sc_account_institution a ON a.account_no = t.payee_account
LEFT JOIN sc_code_institution c ON c.code = t.out_counterparty_code
WHERE NOT t.in_present
"""

# Art. 5: a customer's day is summed per side; the bar depends on who the customer is. Only a side its own
# institution did not report can be a large one left unreported, so only those sides' days are summed.
LARGE_UNREPORTED_SQL = """
CREATE OR REPLACE TEMP TABLE sc_large_unreported AS
WITH unreported_days AS (SELECT DISTINCT account_no, direction, day FROM sc_unreported_sides),
day_sides AS (
    SELECT u.account_no, u.direction, u.day, t.amount_cny, t.method, t.payer_kind AS kind
    FROM sc_transfers t JOIN unreported_days u ON u.direction = 'OUT' AND u.account_no = t.payer_account
                                               AND u.day = t.day
    UNION ALL
    SELECT u.account_no, u.direction, u.day, t.amount_cny, t.method, t.payee_kind
    FROM sc_transfers t JOIN unreported_days u ON u.direction = 'IN' AND u.account_no = t.payee_account
                                               AND u.day = t.day),
days AS (
    SELECT account_no, direction, day,
           sum(amount_cny) AS day_total,
           sum(amount_cny) FILTER (WHERE method = 'CROSS_BORDER') AS cross_border_total,
           any_value(kind) AS kind
    FROM day_sides GROUP BY ALL)
SELECT s.payment_id, s.institution_code, s.account_no, s.account_name, s.direction, s.day, s.txn_time, s.amount_cny,
       d.day_total, s.other_institution, s.other_txn_ref
FROM sc_unreported_sides s JOIN days d USING (account_no, direction, day)
WHERE s.institution_code IN (SELECT institution_code FROM sc_reporters)
  AND CASE WHEN d.kind = 'PERSON' THEN d.day_total >= $person_transfer
                                       OR coalesce(d.cross_border_total, 0) >= $person_cross_border
           ELSE d.day_total >= $org_transfer END
"""

# Sides grouped by what places them first, so that the lookups of an end no institution reported see thousands of
# rows, not one per side.
COVERAGE_SQL = f"""
WITH ends AS (
    SELECT out_institution AS own, CASE WHEN out_institution IS NULL THEN payer_account END AS account_no,
           CASE WHEN out_institution IS NULL THEN in_counterparty_code END AS code,
           out_present AS own_present, in_present AS other_present
    FROM sc_transfers
    UNION ALL
    SELECT in_institution, CASE WHEN in_institution IS NULL THEN payee_account END,
           CASE WHEN in_institution IS NULL THEN out_counterparty_code END, in_present, out_present
    FROM sc_transfers),
grouped AS (
    SELECT own, account_no, code, count(*) FILTER (WHERE other_present) AS transfer_sides,
           count(*) FILTER (WHERE other_present AND NOT own_present) AS missing_legs
    FROM ends GROUP BY ALL),
placed AS (
    SELECT {_SIDE_INSTITUTION.format(own="g.own")} AS institution_code, g.transfer_sides, g.missing_legs
    FROM grouped g
    LEFT JOIN sc_account_institution a ON a.account_no = g.account_no
    LEFT JOIN sc_code_institution c ON c.code = g.code),
sides AS (
    SELECT institution_code, CAST(sum(transfer_sides) AS BIGINT) AS transfer_sides,
           CAST(sum(missing_legs) AS BIGINT) AS missing_legs
    FROM placed WHERE institution_code IN (SELECT institution_code FROM sc_reporters) GROUP BY ALL),
unreported AS (
    SELECT institution_code, count(*) AS large_unreported, sum(amount_cny) AS large_unreported_amount,
           count(DISTINCT (account_no, direction, day)) AS large_unreported_days
    FROM sc_large_unreported GROUP BY ALL)
SELECT s.institution_code, s.transfer_sides, s.missing_legs, coalesce(u.large_unreported, 0) AS large_unreported,
       coalesce(u.large_unreported_amount, 0) AS large_unreported_amount,
       coalesce(u.large_unreported_days, 0) AS large_unreported_days
FROM sides s LEFT JOIN unreported u USING (institution_code) ORDER BY ALL
"""

# Lead accounts of the reporters against what their banks ever filed about them (earlier versions too: a
# line first sent as 可疑 and later resent as 大额 was still reported as suspicious).
MISSED_SQL = """
WITH lines AS (
    SELECT account_no, report_kind, txn_time, institution_code FROM txn
    WHERE account_no IN (SELECT account_no FROM sc_suspects)
    UNION ALL
    SELECT account_no, report_kind, txn_time, institution_code FROM txn_versions
    WHERE account_no IN (SELECT account_no FROM sc_suspects)),
filed AS (
    SELECT account_no, count(*) FILTER (WHERE report_kind = 'SUSPICIOUS') AS suspicious_lines,
           count(*) FILTER (WHERE report_kind = 'LARGE') AS large_lines, min(txn_time) AS first_line
    FROM lines GROUP BY account_no),
moved AS (
    SELECT account_no, min(txn_time) AS first_payment,
           count(*) FILTER (WHERE CAST(txn_time AS DATE) BETWEEN $start AND $end) AS payments_in_period
    FROM (SELECT payer_account AS account_no, txn_time FROM payments
          WHERE payer_account IN (SELECT account_no FROM sc_suspects)
          UNION ALL
          SELECT payee_account, txn_time FROM payments WHERE payee_account IN (SELECT account_no FROM sc_suspects))
    GROUP BY account_no),
-- an account no bank of the county filed as its customer is placed by the counterparty code on others' lines
via_counterparty AS (
    SELECT t.counterparty_account_no AS account_no, arg_max(c.institution_code, t.txn_time) AS institution_code
    FROM txn t JOIN sc_code_institution c ON c.code = t.counterparty_institution
    WHERE t.counterparty_account_no IN (SELECT account_no FROM sc_suspects)
    GROUP BY 1),
accounts AS (
    SELECT account_no, string_agg(DISTINCT lead_id, ',' ORDER BY lead_id) AS lead_ids,
           string_agg(DISTINCT role, ',' ORDER BY role) AS roles, any_value(account_name) AS account_name,
           any_value(lead_institution) AS lead_institution, min(first_evidence) AS first_evidence
    FROM sc_suspects GROUP BY account_no)
SELECT coalesce(i.institution_code, v.institution_code, a.lead_institution) AS institution_code, a.account_no, a.account_name,
       a.lead_ids, a.roles, coalesce(f.suspicious_lines, 0) AS suspicious_lines,
       coalesce(f.large_lines, 0) AS large_lines,
       CAST(coalesce(a.first_evidence, m.first_payment, f.first_line) AS DATE) AS first_flaggable,
       coalesce(m.payments_in_period, 0) AS payments_in_period
FROM accounts a LEFT JOIN filed f USING (account_no) LEFT JOIN moved m USING (account_no)
LEFT JOIN sc_account_institution i USING (account_no) LEFT JOIN via_counterparty v USING (account_no)
WHERE coalesce(i.institution_code, v.institution_code, a.lead_institution) IN (SELECT institution_code FROM sc_reporters)
  AND coalesce(m.payments_in_period, 0) > 0
ORDER BY institution_code, first_flaggable, a.account_no
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql, params or {})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _calendar_table(con: duckdb.DuckDBPyConnection, calendar: WorkCalendar, period: Period, today: date) -> list[int]:
    first, last = warehouse.one_row(
        con,
        """
        SELECT least(min(d), $start), greatest(max(d), $today, $end) FROM (
            SELECT min(txn_date) AS d FROM txn UNION ALL SELECT max(txn_date) FROM txn
            UNION ALL SELECT CAST(min(arrived_at) AS DATE) FROM files UNION ALL SELECT CAST(max(arrived_at) AS DATE) FROM files)
        """,
        {"start": period.start, "end": period.end, "today": today},
    )
    first, last = first - timedelta(days=7), last + timedelta(days=7)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE sc_calendar AS
           SELECT d, working, sum(working::INTEGER) OVER (ORDER BY d) AS work_no
           FROM (SELECT CAST(g AS DATE) AS d,
                        list_contains($workdays::DATE[], CAST(g AS DATE))
                        OR (isodow(g) < 6 AND NOT list_contains($holidays::DATE[], CAST(g AS DATE))) AS working
                 FROM generate_series(CAST($first AS DATE), CAST($last AS DATE), INTERVAL 1 DAY) t(g))""",
        {
            "first": first,
            "last": last,
            "holidays": sorted(calendar.holidays) or [date(1900, 1, 1)],
            "workdays": sorted(calendar.workdays) or [date(1900, 1, 1)],
        },
    )
    return calendar.unlisted_years(first + timedelta(days=7), last - timedelta(days=7))


def _suspects_table(con: duckdb.DuckDBPyConnection, suspects: list[dict]) -> None:
    columns = {
        "lead_id": pa.array([s["lead_id"] for s in suspects], pa.string()),
        "account_no": pa.array([s["account_no"] for s in suspects], pa.string()),
        "account_name": pa.array([s.get("account_name") for s in suspects], pa.string()),
        "lead_institution": pa.array([s.get("institution") for s in suspects], pa.string()),
        "role": pa.array([s["role"] for s in suspects], pa.string()),
        "first_evidence": pa.array([s.get("first_evidence") for s in suspects], pa.timestamp("us")),
    }
    # through Arrow: inserting row by row took 0.6 s for the 10M-line county's lead accounts
    with warehouse.registered(con, "suspect_rows", pa.table(columns)):
        con.execute("CREATE OR REPLACE TEMP TABLE sc_suspects AS SELECT * FROM suspect_rows")


def _share(part: float | None, whole: float | None) -> float | None:
    return round(float(part or 0) / float(whole), 4) if whole else None


def compute_scorecard(
    con: duckdb.DuckDBPyConnection,
    rules: ScorecardRules,
    period: Period,
    suspects: list[dict] | None = None,
    today: date | None = None,
) -> Scorecard:
    """Every measure for every reporting institution over `period`; `suspects` from `lead_suspects`."""
    today = today or date.today()
    as_of = min(period.end, today)
    params = {"start": period.start, "end": period.end}
    scorecard = Scorecard(period, as_of, [])
    unlisted = _calendar_table(con, rules.calendar, period, today)
    if unlisted:
        scorecard.notes.append(
            f"节假日表未列入 {', '.join(map(str, unlisted))} 年，按周末计算工作日 / no holidays listed for "
            f"{', '.join(map(str, unlisted))}: working days there count weekends only"
        )
        log.warning(scorecard.notes[-1])
    con.execute(FILES_SQL)
    con.execute(INSTITUTION_OF_SQL)
    con.execute(
        TIMELINESS_SQL,
        {**params, "large_deadline": rules.large_deadline, "suspicious_deadline": rules.suspicious_deadline},
    )
    bars = {key: value for key, value in rules.thresholds.items() if key != "cash"}  # cash has no counterparty
    con.execute(TRANSFERS_SQL.format(start=period.start.isoformat(), stop=(period.end + timedelta(days=1)).isoformat()))
    con.execute(UNREPORTED_SIDES_SQL)
    con.execute(LARGE_UNREPORTED_SQL, bars)
    _suspects_table(con, suspects or [])
    tables = {
        "files": _rows(con, FILE_KINDS_SQL, params),
        "file_list": _rows(
            con,
            """SELECT institution_code, report_kind, file_name, arrived_at, last_txn, rows_read, rows_loaded,
                      rows_quarantined, rows_warned, rows_replaced
               FROM sc_files WHERE report_date BETWEEN $start AND $end ORDER BY institution_code, arrived_at, file_name""",
            params,
        ),
        "quarantine": _rows(con, QUARANTINE_SQL, params),
        "soft_findings": _rows(con, SOFT_SQL, params),
        "completeness": _rows(con, _completeness_sql(), params),
        "timeliness": _rows(con, TIMELINESS_SUMMARY_SQL),
        "late_files": _rows(
            con,
            """SELECT institution_code, report_kind, file_name, arrived_on, min(due_from) AS earliest_due_from,
                      max(lag) AS max_lag, any_value(deadline) AS deadline, sum(lines) AS late_lines
               FROM sc_lags WHERE lag > deadline GROUP BY ALL ORDER BY institution_code, arrived_on, file_name""",
        ),
        "coverage": _rows(con, COVERAGE_SQL),
        "large_unreported": _rows(
            con,
            """SELECT * EXCLUDE (payment_id) FROM sc_large_unreported
               ORDER BY institution_code, day, account_no, txn_time, payment_id, direction""",
        ),
        "missed": [row for row in _rows(con, MISSED_SQL, params) if row["suspicious_lines"] == 0],
    }
    suspects_per_institution: dict[str, int] = {}
    for row in _rows(con, MISSED_SQL, params):
        suspects_per_institution[row["institution_code"]] = suspects_per_institution.get(row["institution_code"], 0) + 1
    for row in tables["missed"]:
        row["how_reported"] = "large_only" if row["large_lines"] else "not_reported"
    for row in tables["completeness"]:
        for name in COMPLETENESS_FIELDS:
            row[name] = None if row[name] is None else round(float(row[name]), 4)
    last_arrivals = dict(
        con.execute(
            "SELECT institution_code, max(arrived_on) FROM sc_files WHERE arrived_on <= $as_of GROUP BY 1",
            {"as_of": as_of},
        ).fetchall()
    )
    work_no = dict(con.execute("SELECT d, work_no FROM sc_calendar").fetchall())
    institutions = [code for (code,) in con.execute("SELECT institution_code FROM sc_reporters ORDER BY 1").fetchall()]
    scorecard.summary = [
        _summary_row(code, period, as_of, tables, last_arrivals.get(code), work_no, suspects_per_institution, rules)
        for code in institutions
    ]
    scorecard.tables = tables
    return scorecard


def _summary_row(
    code: str,
    period: Period,
    as_of: date,
    tables: dict[str, list[dict]],
    last_arrival: date | None,
    work_no: dict[date, int],
    suspects: dict[str, int],
    rules: ScorecardRules,
) -> dict[str, Any]:
    def mine(name: str) -> list[dict]:
        return [row for row in tables[name] if row["institution_code"] == code]

    def total(rows: list[dict], key: str, kind: str | None = None) -> int:
        return int(sum(row[key] or 0 for row in rows if kind is None or row.get("report_kind") == kind))

    files, timing, coverage = mine("files"), mine("timeliness"), mine("coverage")
    completeness = (mine("completeness") or [{}])[0]
    lines, quarantined = total(files, "lines"), total(files, "quarantined")
    timed, late = total(timing, "lines"), total(timing, "late_lines")
    sides = total(coverage, "transfer_sides")
    row: dict[str, Any] = {
        "institution_code": code,
        "period": period.key,
        "files": total(files, "files"),
        "files_large": total(files, "files", "LARGE"),
        "files_suspicious": total(files, "files", "SUSPICIOUS"),
        "lines": lines,
        "lines_large": total(files, "lines", "LARGE"),
        "lines_suspicious": total(files, "lines", "SUSPICIOUS"),
        "loaded": total(files, "loaded"),
        "quarantined": quarantined,
        "quarantine_rate": _share(quarantined, lines),
        "warned_lines": int(completeness.get("warned_lines") or 0),
        "soft_finding_rate": _share(completeness.get("warned_lines"), completeness.get("lines")),
        "lines_timed": timed,
        "late_lines": late,
        "late_share": _share(late, timed),
        "max_lag_working_days": max((int(row["max_lag"]) for row in timing), default=None),
        "last_file_on": last_arrival,
        "working_days_since_last_file": (
            work_no[as_of] - work_no[last_arrival] if last_arrival is not None and as_of in work_no else None
        ),
        "transfer_sides": sides,
        "missing_legs": total(coverage, "missing_legs"),
        "missing_leg_share": _share(total(coverage, "missing_legs"), sides),
        "large_unreported": total(coverage, "large_unreported"),
        "large_unreported_amount": float(sum(row["large_unreported_amount"] or 0 for row in coverage)),
        "suspect_accounts": suspects.get(code, 0),
        "missed_suspicious": len(mine("missed")),
        "completeness_lowest": min(
            (completeness[name] for name in COMPLETENESS_FIELDS if completeness.get(name) is not None), default=None
        ),
    }
    row["crossed"] = crossed(row, rules)
    return row


def crossed(row: dict, rules: ScorecardRules) -> list[tuple[str, Any, float]]:
    """The measures of one summary row past their bars in `rules/institutions/scorecard.yaml`."""
    bars = rules.alerts
    found = []
    gap = row["working_days_since_last_file"]
    if gap is None or gap >= bars["no_file_working_days"]:
        found.append(("no_file_working_days", gap, bars["no_file_working_days"]))
    for key in ("quarantine_rate", "late_share", "missing_leg_share"):
        if row[key] is not None and row[key] > bars[key]:
            found.append((key, row[key], bars[key]))
    for key in ("large_unreported", "missed_suspicious"):
        if row[key] >= bars[key] > 0:
            found.append((key, row[key], bars[key]))
    return found


def build_scorecard(settings, period: Period, con: duckdb.DuckDBPyConnection | None = None, today: date | None = None):
    """Open what is needed (rules, case store, warehouse read-only unless given) and compute."""
    from pipelines.evaluation.institution_rules import load_scorecard_rules

    rules = load_scorecard_rules(settings.institutions_rules_dir)
    store = CaseStore.open(settings)
    try:
        suspects = lead_suspects(store, rules.suspect_roles)
    finally:
        store.close()
    today = today or datetime.now(settings.tz).date()
    if con is not None:
        return compute_scorecard(con, rules, period, suspects, today)
    opened = warehouse.connect(settings, read_only=settings.warehouse_path.exists())
    try:
        return compute_scorecard(opened, rules, period, suspects, today)
    finally:
        opened.close()
