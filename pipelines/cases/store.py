"""The case store (线索库): leads with their evidence, the ledger of measures, users, and two append-only,
hash-chained logs (lead events and the audit log). SQLAlchemy Core; SQLite in WAL mode by default, PostgreSQL
(`postgresql+psycopg://…`) by setting, on the same SQL. Writes run in `store.write()`: BEGIN IMMEDIATE on SQLite
and row locks on PostgreSQL (`lock_lead`), so two processes can never both read-then-write the same lead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, ForeignKey, MetaData, Table
from sqlalchemy.engine import Connection, Engine

from pipelines.cases.ranking import current_ranking
from pipelines.errors import FundflowError, NotFoundError
from pipelines.settings import Settings
from pipelines.vocabulary import ROLES

GENESIS_HASH = "0" * 64
BUSY_TIMEOUT_SECONDS = 10
MIGRATION_LOCK_KEY = 2020_0001  # PostgreSQL advisory lock held while migrating
# PostgreSQL's codes for "try again": lock not available (lock_timeout), deadlock, serialisation failure
RETRYABLE_SQLSTATES = ("55P03", "40P01", "40001")


class CaseStoreBusyError(FundflowError):
    """Another process held the case store for longer than the busy timeout; retrying later can help."""

    transient = True


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _text(length: int | None = None) -> sa.types.TypeEngine:
    # The length says what a column holds. SQLite never enforces it, so PostgreSQL gets TEXT as well: a longer
    # value then behaves the same on both instead of failing on one of them only.
    return sa.String(length).with_variant(sa.Text(), "postgresql") if length else sa.Text()


def _amount() -> sa.Numeric:
    return sa.Numeric(18, 2)


def define_v1(metadata: MetaData) -> None:
    """Schema version 1. A later version adds its own `define_vN` changes; this one stays as released."""
    Table(
        "leads",
        metadata,
        Column("lead_id", _text(20), primary_key=True),  # XS2025-000123
        Column("ring_key", _text(64), index=True),  # warehouse ring_id: md5 of the hub account
        Column("status", _text(24), nullable=False),
        Column("hold_from", _text(24)),  # status an ON_HOLD lead returns to
        Column("hold_since", sa.DateTime),
        Column("source", _text(16), nullable=False),  # model | manual
        Column("hub_account", _text(64)),
        Column("subject_name", _text()),
        Column("subject_id_no", _text(32)),
        Column("subject_kind", _text(8)),  # PERSON | ORG
        Column("subject_region", _text(6)),
        Column("window_start", sa.DateTime),
        Column("window_end", sa.DateTime),
        Column("total_in", _amount(), nullable=False),
        Column("total_out", _amount(), nullable=False),
        Column("individual_payers", sa.Integer, nullable=False),  # distinct participants (集资参与人)
        Column("elderly_share", sa.Float, nullable=False),
        Column("provinces", sa.JSON, nullable=False),  # 2-digit codes of the payers' provinces
        Column("province_stats", sa.JSON, nullable=False),  # [{province, participants, amount}]
        Column("typologies", sa.JSON, nullable=False),
        Column("rule_ids", sa.JSON, nullable=False),
        Column("sectors", sa.JSON, nullable=False),  # focus-sector codes (pipelines.cases.sectors)
        Column("keywords", sa.JSON, nullable=False),  # words that put it in those sectors
        Column("priority", sa.JSON, nullable=False),  # priority-mark codes (pipelines.cases.publish)
        Column("score", sa.Float, nullable=False),
        Column("rank_score", sa.Float),  # the model's score while the model ranks
        Column("narrative", _text(), nullable=False),
        Column("reasons", sa.JSON, nullable=False),  # [{rule_id, zh, en}]
        Column("assignee", _text(64)),
        Column("due_date", sa.Date),
        Column("related_lead_id", _text(20)),  # the closed lead this one continues
        Column("merged_into", _text(20)),
        Column("close_proposed_by", _text(64)),
        Column("close_proposed_at", sa.DateTime),
        Column("closed_at", sa.DateTime),
        Column("first_run_id", _text(64)),
        Column("last_run_id", _text(64)),
        Column("created_at", sa.DateTime, nullable=False),
        Column("updated_at", sa.DateTime, nullable=False),
    )
    Table(
        "lead_accounts",
        metadata,
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), primary_key=True),
        Column("account_no", _text(64), primary_key=True, index=True),
        Column("account_name", _text()),
        Column("institution", _text(32)),
        Column("holder_id_no", _text(32)),
        Column("holder_kind", _text(8)),
        Column("holder_region", _text(6)),
        Column("role", _text(16), nullable=False),  # hub collector investor promoter controller other
        Column("total_in", _amount(), nullable=False),
        Column("total_out", _amount(), nullable=False),
    )
    Table(
        "lead_alerts",
        metadata,
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), primary_key=True),
        Column("alert_id", _text(64), primary_key=True),
        Column("run_id", _text(64), nullable=False),
        Column("rule_id", _text(16), nullable=False),
        Column("typology", _text(32), nullable=False),
        Column("title_zh", _text()),
        Column("subject", _text(64), nullable=False),
        Column("reason_zh", _text(), nullable=False),
        Column("reason_en", _text(), nullable=False),
        Column("score", sa.Float, nullable=False),
        Column("window_start", sa.DateTime, nullable=False),
        Column("window_end", sa.DateTime, nullable=False),
        Column("metrics", sa.JSON, nullable=False),
        Column("n_evidence", sa.Integer, nullable=False),
    )
    Table(
        "lead_payments",
        metadata,
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), primary_key=True),
        Column("payment_id", _text(64), primary_key=True),
        Column("run_id", _text(64), nullable=False),
        Column("txn_time", sa.DateTime, nullable=False),
        Column("payer_account", _text(64)),  # NULL: cash paid in
        Column("payer_name", _text()),
        Column("payer_kind", _text(8)),
        Column("payer_region", _text(6)),
        Column("payee_account", _text(64)),  # NULL: cash paid out
        Column("payee_name", _text()),
        Column("payee_kind", _text(8)),
        Column("payee_region", _text(6)),
        Column("amount", _amount()),
        Column("method", _text(16), nullable=False),
        Column("is_cash", sa.Boolean, nullable=False),
        Column("purpose", _text()),
        Column("memo", _text()),
    )
    Table(
        "lead_runs",
        metadata,
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), primary_key=True),
        Column("run_id", _text(64), primary_key=True),
        Column("activity", _text(16), nullable=False),  # new | update | reopen-link
        Column("at", sa.DateTime, nullable=False),
        Column("detail", sa.JSON, nullable=False),
    )
    Table(
        "events",
        metadata,
        Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), nullable=False, index=True),
        Column("at", sa.DateTime, nullable=False),
        Column("user", _text(64), nullable=False),
        Column("action", _text(24), nullable=False),
        Column("from_status", _text(24)),
        Column("to_status", _text(24)),
        Column("note", _text(), nullable=False),
        Column("detail", sa.JSON, nullable=False),
        Column("prev_hash", _text(64), nullable=False),
        Column("hash", _text(64), nullable=False),
    )
    Table(
        "measures",
        metadata,
        Column("measure_id", sa.Integer, primary_key=True, autoincrement=True),
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), nullable=False, index=True),
        Column("kind", _text(24), nullable=False),
        Column("title_zh", _text(), nullable=False),
        Column("disposition_type", _text(16), nullable=False),  # REGULATE | ADMIN | TRANSFER_POLICE
        Column("due_date", sa.Date),
        Column("status", _text(8), nullable=False),  # OPEN | DONE
        Column("created_by", _text(64), nullable=False),
        Column("created_at", sa.DateTime, nullable=False),
        Column("done_by", _text(64)),
        Column("done_at", sa.DateTime),
        Column("note", _text()),
        Column("closure_evidence", _text()),
        Column("transfer_no", _text(64)),  # police transfer (移送) number
        Column("transfer_date", sa.Date),
        Column("amount", _amount()),
    )  # fine imposed or sum repaid (清退), yuan
    Table(
        "users",
        metadata,
        Column("name", _text(64), primary_key=True),
        Column("role", _text(16), nullable=False),
        Column("password_hash", _text()),
        Column("disabled", sa.Boolean, nullable=False, default=False),
        Column("failed_logins", sa.Integer, nullable=False, default=0),
        Column("locked_until", sa.DateTime),
        Column("created_at", sa.DateTime, nullable=False),
    )
    Table(
        "audit",
        metadata,
        Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        Column("at", sa.DateTime, nullable=False),
        Column("user", _text(64), nullable=False),
        Column("action", _text(24), nullable=False),  # view unmask export login logout user_add …
        Column("target", _text()),
        Column("reason", _text()),
        Column("file_sha256", _text(64)),
        Column("detail", sa.JSON, nullable=False),
        Column("prev_hash", _text(64), nullable=False),
        Column("hash", _text(64), nullable=False),
    )
    # The last seq and hash of each chain; updating this row first serialises appenders on every database.
    Table(
        "chain_heads",
        metadata,
        Column("chain", _text(16), primary_key=True),  # events | audit
        Column("seq", sa.Integer, nullable=False),
        Column("hash", _text(64), nullable=False),
    )


def _migrate_v1(conn: Connection) -> None:
    fresh = MetaData()
    define_v1(fresh)
    fresh.create_all(conn, checkfirst=False)  # a new store: nothing there yet, no need to ask per table
    heads = fresh.tables["chain_heads"]
    conn.execute(
        heads.insert(),
        [{"chain": "events", "seq": 0, "hash": GENESIS_HASH}, {"chain": "audit", "seq": 0, "hash": GENESIS_HASH}],
    )


def define_v2(metadata: MetaData) -> None:
    """Schema version 2: console sessions, login throttling by name, and notes with their attachments."""
    Table(
        "sessions",
        metadata,
        Column("token_hash", _text(64), primary_key=True),  # sha256 of the cookie's session id, never the id
        Column("user", _text(64), nullable=False, index=True),
        Column("created_at", sa.DateTime, nullable=False),
        Column("last_seen", sa.DateTime, nullable=False),
        Column("ended_at", sa.DateTime),
        Column("end_reason", _text(16)),  # logout | password | disabled | idle
    )
    # Wrong passwords counted by the name typed, known or not, so a lock answers the same for both.
    Table(
        "login_throttle",
        metadata,
        Column("name", _text(64), primary_key=True),
        Column("failed_logins", sa.Integer, nullable=False),
        Column("locked_until", sa.DateTime),
    )
    Table(
        "notes",
        metadata,
        Column("note_id", sa.Integer, primary_key=True, autoincrement=True),
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), nullable=False, index=True),
        Column("account_no", _text(64)),  # NULL: a note on the lead as a whole
        Column("text", _text(), nullable=False),
        Column("created_by", _text(64), nullable=False),
        Column("created_at", sa.DateTime, nullable=False),
        Column("event_seq", sa.Integer, nullable=False),
    )
    Table(
        "attachments",
        metadata,
        Column("attachment_id", sa.Integer, primary_key=True, autoincrement=True),
        Column("note_id", sa.Integer, ForeignKey("notes.note_id"), nullable=False, index=True),
        Column("lead_id", _text(20), ForeignKey("leads.lead_id"), nullable=False, index=True),
        Column("sha256", _text(64), nullable=False),  # the file lives at <home>/attachments/<sha256[:2]>/<sha256>
        Column("filename", _text(), nullable=False),
        Column("media_type", _text(64), nullable=False),
        Column("size", sa.Integer, nullable=False),
        Column("created_by", _text(64), nullable=False),
        Column("created_at", sa.DateTime, nullable=False),
    )


def _migrate_v2(conn: Connection) -> None:
    fresh = MetaData()
    define_v1(fresh)  # for the foreign keys; v1's tables exist already and are not touched
    define_v2(fresh)
    for name in ("sessions", "login_throttle", "notes", "attachments"):
        fresh.tables[name].create(conn)


def define_v3_tips(metadata: MetaData) -> None:
    """Schema version 3: the tip register (群众举报), its matches to the money, its history, rewards, imports."""
    Table(
        "tips",
        metadata,
        Column("tip_id", _text(20), primary_key=True),  # JB2025-000123
        Column("channel", _text(8), nullable=False),  # PHONE MAIL LETTER VISIT ONLINE
        Column("received_at", sa.DateTime, nullable=False),
        # The reporter (举报人): read whole only by a supervisor with a reason (audited), masked elsewhere.
        Column("reporter_name", _text()),
        Column("reporter_phone", _text(32)),
        Column("reporter_id_no", _text(32)),
        Column("content", _text(), nullable=False),
        Column("people", sa.JSON, nullable=False),  # subjects named: people
        Column("companies", sa.JSON, nullable=False),
        Column("accounts", sa.JSON, nullable=False),
        Column("phones", sa.JSON, nullable=False),
        Column("id_nos", sa.JSON, nullable=False),
        Column("addresses", sa.JSON, nullable=False),
        Column("town", _text()),  # 乡镇
        Column("sectors", sa.JSON, nullable=False),  # focus-sector codes (pipelines.cases.sectors)
        Column("status", _text(12), nullable=False),  # RECEIVED VERIFYING HANDLING ANSWERED
        Column("feedback_due", sa.Date, nullable=False),
        Column("answer", _text()),  # what the reporter was told (反馈)
        Column("answered_by", _text(64)),
        Column("answered_at", sa.DateTime),
        Column("match_state", _text(12), nullable=False),  # NONE ACCOUNTS LEAD
        Column("matched_at", sa.DateTime),
        Column("source_file", _text(64)),  # sha256 of the imported spreadsheet
        Column("source_row", sa.Integer),
        Column("row_key", _text(64), unique=True),  # identity of an imported row: a second load adds nothing
        Column("created_by", _text(64), nullable=False),
        Column("created_at", sa.DateTime, nullable=False),
        Column("updated_at", sa.DateTime, nullable=False),
    )
    Table(
        "tip_matches",
        metadata,
        Column("match_id", sa.Integer, primary_key=True, autoincrement=True),
        Column("tip_id", _text(20), ForeignKey("tips.tip_id"), nullable=False, index=True),
        Column("kind", _text(12), nullable=False),  # account id_no phone name
        Column("subject", _text(), nullable=False),  # the tip's words or number that matched
        Column("account_no", _text(64)),
        Column("matched_name", _text()),
        Column("lead_id", _text(20), ForeignKey("leads.lead_id")),
        Column("strength", sa.Float, nullable=False),  # 1.0 exact … the fuzzy threshold
        Column("how", _text(), nullable=False),
        Column("found_at", sa.DateTime, nullable=False),
        Column("found_by", _text(64), nullable=False),
    )
    Table(
        "tip_events",
        metadata,
        Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        Column("tip_id", _text(20), ForeignKey("tips.tip_id"), nullable=False, index=True),
        Column("at", sa.DateTime, nullable=False),
        Column("user", _text(64), nullable=False),
        Column("action", _text(24), nullable=False),
        Column("from_status", _text(12)),
        Column("to_status", _text(12)),
        Column("note", _text(), nullable=False),
        Column("detail", sa.JSON, nullable=False),
        Column("prev_hash", _text(64), nullable=False),
        Column("hash", _text(64), nullable=False),
    )
    Table(
        "tip_rewards",
        metadata,
        Column("reward_id", sa.Integer, primary_key=True, autoincrement=True),
        Column("tip_id", _text(20), ForeignKey("tips.tip_id"), nullable=False, index=True),
        Column("decision", _text(8), nullable=False),  # GRANT | REFUSE
        Column("amount", _amount()),
        Column("decided_by", _text(64), nullable=False),
        Column("decided_at", sa.DateTime, nullable=False),
        Column("note", _text(), nullable=False),
        Column("paid_on", sa.Date),
        Column("paid_by", _text(64)),
    )
    Table(
        "tip_files",
        metadata,
        Column("file_sha256", _text(64), primary_key=True),
        Column("file_name", _text(), nullable=False),
        Column("loaded_by", _text(64), nullable=False),
        Column("loaded_at", sa.DateTime, nullable=False),
        Column("rows_read", sa.Integer, nullable=False),
        Column("registered", sa.Integer, nullable=False),
        Column("duplicates", sa.Integer, nullable=False),
        Column("quarantined", sa.Integer, nullable=False),
    )
    Table(
        "tip_quarantine",
        metadata,
        Column("file_sha256", _text(64), ForeignKey("tip_files.file_sha256"), primary_key=True),
        Column("row_no", sa.Integer, primary_key=True),
        Column("field", _text(32), primary_key=True),
        Column("reason", _text(), nullable=False),
        Column("raw", sa.JSON, nullable=False),
    )


def _migrate_v3_tips(conn: Connection) -> None:
    fresh = MetaData()
    define_v1(fresh)  # tip tables refer to leads
    define_v3_tips(fresh)
    for name in ("tips", "tip_matches", "tip_events", "tip_rewards", "tip_files", "tip_quarantine"):
        fresh.tables[name].create(conn)
    conn.execute(fresh.tables["chain_heads"].insert().values(chain="tip_events", seq=0, hash=GENESIS_HASH))


def v4_columns() -> list[tuple[str, Column]]:
    """Schema version 4: a lead's figures from one computation, why it holds what it holds, and what each
    evidence payment is (money in, forwarding, payout, commission, to a controller, cash out)."""
    return [
        ("leads", Column("figures", sa.JSON)),  # pipelines.cases.evidence: every figure shown about the lead
        ("leads", Column("why", sa.JSON)),  # [{kind: core_to_core | same_actor | split | analyst_split, ...}]
        ("lead_payments", Column("flow", _text(16))),  # pipelines.cases.evidence.FLOW_KINDS
    ]


def _migrate_v4_lead_figures(conn: Connection) -> None:
    for table, column in v4_columns():
        column_type = column.type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column.name} {column_type}"))


def define_v5_register(metadata: MetaData) -> None:
    """Schema version 5: the register of known lawful entities (licensed insurers, banks' own settlement and
    wealth-product accounts, registered co-ops and care homes), kept by the office; each change is audited."""
    Table(
        "lawful_register",
        metadata,
        Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
        Column("account_no", _text(64), index=True),  # an account, or
        Column("id_no", _text(32), index=True),  # the holder's credit code: all its accounts
        Column("name", _text(), nullable=False),
        Column("kind", _text(16), nullable=False),  # pipelines.vocabulary.LOOKALIKE_KINDS
        Column("licence", _text()),  # licence or registration number, as the office has it
        Column("note", _text(), nullable=False),  # why it is registered
        Column("added_by", _text(64), nullable=False),
        Column("added_at", sa.DateTime, nullable=False),
        Column("removed_by", _text(64)),
        Column("removed_at", sa.DateTime),
        Column("removed_reason", _text()),
    )


def _migrate_v5_register(conn: Connection) -> None:
    fresh = MetaData()
    define_v5_register(fresh)
    fresh.tables["lawful_register"].create(conn)


MIGRATIONS = [
    (1, _migrate_v1),
    (2, _migrate_v2),
    (3, _migrate_v3_tips),
    (4, _migrate_v4_lead_figures),
    (5, _migrate_v5_register),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

METADATA = MetaData()
define_v1(METADATA)
define_v2(METADATA)
define_v3_tips(METADATA)
define_v5_register(METADATA)
for _table, _column in v4_columns():
    METADATA.tables[_table].append_column(_column)
leads = METADATA.tables["leads"]
lead_accounts = METADATA.tables["lead_accounts"]
lead_alerts = METADATA.tables["lead_alerts"]
lead_payments = METADATA.tables["lead_payments"]
lead_runs = METADATA.tables["lead_runs"]
events = METADATA.tables["events"]
measures = METADATA.tables["measures"]
users = METADATA.tables["users"]
audit = METADATA.tables["audit"]
chain_heads = METADATA.tables["chain_heads"]
sessions = METADATA.tables["sessions"]
login_throttle = METADATA.tables["login_throttle"]
notes = METADATA.tables["notes"]
attachments = METADATA.tables["attachments"]
tips = METADATA.tables["tips"]
tip_matches = METADATA.tables["tip_matches"]
tip_events = METADATA.tables["tip_events"]
tip_rewards = METADATA.tables["tip_rewards"]
tip_files = METADATA.tables["tip_files"]
tip_quarantine = METADATA.tables["tip_quarantine"]
lawful_register = METADATA.tables["lawful_register"]
schema_version = Table(
    "schema_version",
    MetaData(),
    Column("version", sa.Integer, primary_key=True),
    Column("applied_at", sa.DateTime, nullable=False),
)

# Fields of each chain that its hash covers, in the order they are written.
EVENT_FIELDS = ("seq", "lead_id", "at", "user", "action", "from_status", "to_status", "note", "detail")
AUDIT_FIELDS = ("seq", "at", "user", "action", "target", "reason", "file_sha256", "detail")
TIP_EVENT_FIELDS = ("seq", "tip_id", "at", "user", "action", "from_status", "to_status", "note", "detail")


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def inserted_id(result: sa.CursorResult) -> int:
    """The key of the one row an INSERT made."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT returned no key")
    return int(key[0])


def plain_json(value: Any) -> Any:
    """The value as it will read back from a JSON column (dates and decimals as strings)."""
    return json.loads(canonical_json(value))


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """Result of recomputing one hash chain: `first_bad_seq` is None when every link holds."""

    chain: str
    checked: int
    first_bad_seq: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and not self.problem


def hold_chain(conn: Connection, chain: str) -> None:
    """Take one chain's head row for this write transaction (SQLite's BEGIN IMMEDIATE holds everything already).

    An appender holds its chain's head until it commits anyway, so a writer takes it *before* any lead or tip
    row: then a publish touching many leads and an analyst changing one wait for each other in turn, never on
    each other at once (a deadlock); and two writers giving out the next lead or tip id (max + 1) do so in turn."""
    conn.execute(sa.select(chain_heads.c.seq).where(chain_heads.c.chain == chain).with_for_update())


class CaseStore:
    """One case store. Open with `CaseStore.open(settings)`; use `read()` and `write()` for transactions."""

    def __init__(self, url: str, settings: Settings):
        self.url = url
        self.settings = settings
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgresql = url.startswith("postgresql")
        self.engine = self._create_engine(url)
        if self.is_sqlite:
            self._use_write_ahead_log()
        self.migrate()

    @classmethod
    def open(cls, settings: Settings) -> CaseStore:
        url = settings.case_store_url
        if url.startswith("sqlite:///"):
            settings.home.mkdir(parents=True, exist_ok=True)
        return cls(url, settings)

    def close(self) -> None:
        self.engine.dispose()

    def _create_engine(self, url: str) -> Engine:
        if self.is_postgresql:
            return self._create_postgresql_engine(url)
        if not self.is_sqlite:
            return sa.create_engine(url, pool_pre_ping=True)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # The driver must not open transactions itself; `_on_begin` does, so it can say IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine

    def _use_write_ahead_log(self) -> None:
        """Put a SQLite store in WAL mode; the file keeps it, so every later connection is in WAL too.

        SQLite answers "database is locked" at once, without waiting out the busy timeout, to a second process
        switching a new file's journal mode at the same moment (measured: 11 of 1,800 opens, six processes at a
        time). So the switch is taken in turn, under an OS lock on a file beside the database."""
        database = self.engine.url.database
        if not database or database == ":memory:":
            return
        with open(Path(f"{database}.lock"), "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            connection = self.engine.raw_connection()  # outside any transaction: WAL cannot be entered inside one
            try:
                connection.cursor().execute("PRAGMA journal_mode=WAL")
            finally:
                connection.close()

    def _create_postgresql_engine(self, url: str) -> Engine:
        try:
            engine = sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise FundflowError(f"PostgreSQL 需要 psycopg / PostgreSQL needs the psycopg driver: {exc}") from None
        timezone = self.settings.timezone

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Records hold the office's naive wall-clock time; the session time zone matches it so that
            # anything the server computes (now(), a time zone given with a value) lands in the same clock.
            # A writer waiting for a lock gives up after the busy timeout, as SQLite's does.
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT set_config('TimeZone', %s, false)", (timezone,))
            cursor.execute(f"SET lock_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.close()
            dbapi_connection.commit()

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One atomic write: everything inside commits together or not at all."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(write=True)
                with conn.begin():
                    yield conn
        except sa.exc.OperationalError as exc:
            if _is_busy(exc):
                raise CaseStoreBusyError("线索库正忙，请稍后重试 / the case store is busy, try again later") from None
            raise

    def migrate(self) -> int:
        """Apply pending migrations in order; a store already at SCHEMA_VERSION is left untouched."""
        if sa.inspect(self.engine).has_table("schema_version"):
            with self.read() as conn:
                if conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() == SCHEMA_VERSION:
                    return SCHEMA_VERSION
        with self.write() as conn:
            if self.is_postgresql:
                # two processes opening a new store at once: the second waits here, then finds nothing to do
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema_version.c.version), 0))).scalar_one()
            for version, step in MIGRATIONS:
                if version > current:
                    step(conn)
                    conn.execute(schema_version.insert().values(version=version, applied_at=self.now()))
                    current = version
        return current

    def now(self) -> datetime:
        """Local wall-clock time of the office (naive, in settings.timezone), as every record stores it."""
        return datetime.now(self.settings.tz).replace(tzinfo=None)

    def today(self) -> date:
        return self.now().date()

    # --- the two hash chains ---------------------------------------------------------------------------

    def _advance_head(self, conn: Connection, chain: str, new_hash_of) -> tuple[int, str, str]:
        # UPDATE first: on PostgreSQL it takes the row lock that keeps two appenders from forking the chain.
        conn.execute(chain_heads.update().where(chain_heads.c.chain == chain).values(seq=chain_heads.c.seq + 1))
        seq, prev_hash = conn.execute(
            sa.select(chain_heads.c.seq, chain_heads.c.hash).where(chain_heads.c.chain == chain)
        ).one()
        new_hash = new_hash_of(seq, prev_hash)
        conn.execute(chain_heads.update().where(chain_heads.c.chain == chain).values(hash=new_hash))
        return seq, prev_hash, new_hash

    def append_event(
        self,
        conn: Connection,
        lead_id: str,
        user: str,
        action: str,
        note: str,
        from_status: str | None = None,
        to_status: str | None = None,
        detail: dict | None = None,
        at: datetime | None = None,
    ) -> int:
        """Add one event to a lead's history inside the caller's write transaction; returns its seq."""
        row = {
            "lead_id": lead_id,
            "at": at or self.now(),
            "user": user,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "note": note,
            "detail": plain_json(detail or {}),
        }
        return self._append_chained(conn, events, EVENT_FIELDS, row)

    def append_audit(
        self,
        conn: Connection,
        user: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        file_sha256: str | None = None,
        detail: dict | None = None,
    ) -> int:
        """Add one audit record inside the caller's write transaction; returns its seq."""
        row = {
            "at": self.now(),
            "user": user,
            "action": action,
            "target": target,
            "reason": reason,
            "file_sha256": file_sha256,
            "detail": plain_json(detail or {}),
        }
        return self._append_chained(conn, audit, AUDIT_FIELDS, row)

    def append_tip_event(
        self,
        conn: Connection,
        tip_id: str,
        user: str,
        action: str,
        note: str,
        from_status: str | None = None,
        to_status: str | None = None,
        detail: dict | None = None,
    ) -> int:
        """Add one event to a tip's history (its own hash chain) inside the caller's write transaction."""
        row = {
            "tip_id": tip_id,
            "at": self.now(),
            "user": user,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "note": note,
            "detail": plain_json(detail or {}),
        }
        return self._append_chained(conn, tip_events, TIP_EVENT_FIELDS, row)

    def _append_chained(self, conn: Connection, table: Table, fields: tuple[str, ...], row: dict) -> int:
        """Insert `row` as the next link of `table`'s hash chain (its seq, prev_hash and hash); returns its seq."""
        hashed: dict[str, object] = {}

        def new_hash_of(seq: int, prev_hash: str) -> str:
            hashed.update(row, seq=seq)
            return chain_hash(prev_hash, {name: hashed[name] for name in fields})

        seq, prev_hash, new_hash = self._advance_head(conn, table.name, new_hash_of)
        conn.execute(table.insert().values(**hashed, prev_hash=prev_hash, hash=new_hash))
        return seq

    def write_audit(
        self,
        user: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        file_sha256: str | None = None,
        detail: dict | None = None,
    ) -> int:
        """Record one audited action (view, unmask, export, login …) in its own transaction."""
        with self.write() as conn:
            return self.append_audit(conn, user, action, target, reason, file_sha256, detail)

    def verify_events(self, conn: Connection | None = None) -> ChainReport:
        return self._verify("events", events, EVENT_FIELDS, conn)

    def verify_audit(self, conn: Connection | None = None) -> ChainReport:
        return self._verify("audit", audit, AUDIT_FIELDS, conn)

    def verify_tip_events(self, conn: Connection | None = None) -> ChainReport:
        return self._verify("tip_events", tip_events, TIP_EVENT_FIELDS, conn)

    def verify_chains(self, conn: Connection | None = None) -> list[ChainReport]:
        """Every hash chain of the store: lead events, the audit log, tip events."""
        return [self.verify_events(conn), self.verify_audit(conn), self.verify_tip_events(conn)]

    def _verify(self, chain: str, table: Table, fields: tuple[str, ...], conn: Connection | None) -> ChainReport:
        """Recompute every link: a changed field, a removed or inserted row, or a cut tail all show.
        In its own read transaction, or inside the caller's (to check a write before it commits)."""
        if conn is None:
            with self.read() as own:
                return self._verify(chain, table, fields, own)
        prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
        head_seq, head_hash = conn.execute(
            sa.select(chain_heads.c.seq, chain_heads.c.hash).where(chain_heads.c.chain == chain)
        ).one()
        for row in conn.execute(sa.select(table).order_by(table.c.seq)).mappings():
            seq = row["seq"]
            if seq != expected_seq:
                return ChainReport(chain, checked, expected_seq, f"missing seq {expected_seq}")
            if row["prev_hash"] != prev_hash:
                return ChainReport(chain, checked, seq, "prev_hash does not match the previous record")
            if chain_hash(prev_hash, {name: row[name] for name in fields}) != row["hash"]:
                return ChainReport(chain, checked, seq, "content does not match its hash")
            prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
        if (head_seq, head_hash) != (checked, prev_hash):
            return ChainReport(chain, checked, checked + 1, f"head says {head_seq} records, found {checked}")
        return ChainReport(chain, checked, None, "")

    # --- users -----------------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str | None = None, by: str = "system") -> None:
        if role not in ROLES:
            raise FundflowError(f"未知角色 / unknown role '{role}' (one of {', '.join(ROLES)})")
        with self.write() as conn:
            if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first():
                raise FundflowError(f"用户已存在 / user already exists: {name}")
            conn.execute(
                users.insert().values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    disabled=False,
                    failed_logins=0,
                    created_at=self.now(),
                )
            )
            self.append_audit(conn, by, "user_add", target=name, detail={"role": role})

    def get_user(self, name: str, conn: Connection | None = None) -> dict:
        if conn is None:
            with self.read() as own:
                return self.get_user(name, own)
        row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            raise NotFoundError(f"未知用户 / unknown user: {name}")
        return dict(row)

    # --- reading leads (the console and the exports use these) ------------------------------------------

    def list_leads(
        self,
        status: str | list[str] | None = None,
        sector: str | None = None,
        priority: str | None = None,
        assignee: str | None = None,
        created_from: date | None = None,
        created_to: date | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Leads, best first — by the model's rank score while the model ranks (pipelines.cases.ranking), else by
        the rule score — filtered; `created_to` is inclusive. Sector and priority are codes."""
        order = [leads.c.score.desc(), leads.c.lead_id]
        if current_ranking(self.settings)["name"] == "model":
            # a lead the model has not scored yet (published before it ranked) goes after the scored ones
            order = [leads.c.rank_score.is_(None), leads.c.rank_score.desc(), *order]
        query = sa.select(leads).order_by(*order)
        if status:
            query = query.where(leads.c.status.in_([status] if isinstance(status, str) else status))
        if assignee:
            query = query.where(leads.c.assignee == assignee)
        if created_from:
            query = query.where(leads.c.created_at >= datetime.combine(created_from, datetime.min.time()))
        if created_to:
            query = query.where(leads.c.created_at < datetime.combine(created_to, datetime.max.time()))
        with self.read() as conn:
            found = [dict(row) for row in conn.execute(query).mappings()]
        # JSON-list membership is filtered here: the SQL for it differs between SQLite and PostgreSQL.
        if sector:
            found = [lead for lead in found if sector in lead["sectors"]]
        if priority:
            found = [lead for lead in found if priority in lead["priority"]]
        return found[:limit] if limit else found

    def get_lead(self, lead_id: str, conn: Connection | None = None) -> dict:
        """One lead with its accounts, alerts, evidence payments, runs, measures and events."""
        if conn is None:
            with self.read() as own:
                return self.get_lead(lead_id, own)
        row = conn.execute(sa.select(leads).where(leads.c.lead_id == lead_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"线索不存在 / no such lead: {lead_id}")
        lead = dict(row)
        lead["accounts"] = self._rows(conn, lead_accounts, lead_id, lead_accounts.c.total_in.desc())
        lead["alerts"] = self._rows(conn, lead_alerts, lead_id, lead_alerts.c.score.desc())
        lead["payments"] = self._rows(conn, lead_payments, lead_id, lead_payments.c.txn_time)
        lead["runs"] = self._rows(conn, lead_runs, lead_id, lead_runs.c.at)
        lead["also_in"] = self.also_in(conn, lead_id)
        lead["measures"] = self._rows(conn, measures, lead_id, measures.c.measure_id)
        lead["events"] = self._rows(conn, events, lead_id, events.c.seq)
        files = self._rows(conn, attachments, lead_id, attachments.c.attachment_id)
        lead["notes"] = [
            dict(note, attachments=[f for f in files if f["note_id"] == note["note_id"]])
            for note in self._rows(conn, notes, lead_id, notes.c.note_id)
        ]
        return lead

    @staticmethod
    def also_in(conn: Connection, lead_id: str) -> list[dict]:
        """Other live leads this lead's participants also paid into: [{lead_id, participants}], most first."""
        mine = sa.select(lead_accounts.c.account_no).where(
            lead_accounts.c.lead_id == lead_id, lead_accounts.c.role == "investor"
        )
        query = (
            sa.select(lead_accounts.c.lead_id, sa.func.count().label("participants"))
            .join(leads, leads.c.lead_id == lead_accounts.c.lead_id)
            .where(lead_accounts.c.account_no.in_(mine), lead_accounts.c.role == "investor")
            .where(lead_accounts.c.lead_id != lead_id, leads.c.status != "MERGED")
            .group_by(lead_accounts.c.lead_id)
            .order_by(sa.func.count().desc(), lead_accounts.c.lead_id)
        )
        return [dict(row) for row in conn.execute(query).mappings()]

    @staticmethod
    def _rows(conn: Connection, table: Table, lead_id: str, order) -> list[dict]:
        query = sa.select(table).where(table.c.lead_id == lead_id).order_by(order)
        return [dict(row) for row in conn.execute(query).mappings()]

    def hold_event_chain(self, conn: Connection) -> None:
        """Take the events chain's head row for this write transaction (see `hold_chain`)."""
        hold_chain(conn, "events")

    def lock_lead(self, conn: Connection, lead_id: str) -> dict:
        """Read a lead for changing it inside `write()`: the events chain head, then the lead's row lock."""
        self.hold_event_chain(conn)
        row = conn.execute(sa.select(leads).where(leads.c.lead_id == lead_id).with_for_update()).mappings()
        found = row.first()
        if found is None:
            raise NotFoundError(f"线索不存在 / no such lead: {lead_id}")
        return dict(found)
