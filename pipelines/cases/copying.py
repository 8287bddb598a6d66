"""Copying a whole case store to another database (`fundflow cases migrate --to URL`), e.g. an office's SQLite
file to its PostgreSQL server. Every table is copied as it is, in one transaction on the target, and the copy
counts only if every hash chain verifies there, by the same code as `fundflow leads verify`, and end where the
source's end; otherwise nothing is kept. The target must be empty, so nothing is ever duplicated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines.cases.store import METADATA, CaseStore, ChainReport, chain_heads
from pipelines.errors import FundflowError

log = logging.getLogger("fundflow.cases")
BATCH_ROWS = 2000


@dataclass(frozen=True)
class CopyReport:
    """What was copied: rows per table, and every hash chain as verified on the target."""

    rows: dict[str, int]
    chains: list[ChainReport]


def shown_url(url: str) -> str:
    """A database URL fit for a log or the audit trail: the password replaced by ***."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _copied_tables() -> list[sa.Table]:
    # parents before children, so foreign keys hold at every insert
    return list(METADATA.sorted_tables)


def _heads(conn: Connection) -> dict[str, tuple[int, str]]:
    return {chain: (seq, hash_) for chain, seq, hash_ in conn.execute(sa.select(chain_heads)).all()}


def _refuse_unless_empty(conn: Connection) -> None:
    held = {}
    for table in _copied_tables():
        if table is chain_heads:
            continue
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if count:
            held[table.name] = count
    if held or any(seq for seq, _ in _heads(conn).values()):
        listed = ", ".join(f"{name} {count}" for name, count in held.items())
        raise FundflowError(
            f"目标线索库不是空的，未复制任何数据 / the target case store is not empty ({listed}); nothing copied"
        )


def _restart_sequences(target: CaseStore, conn: Connection) -> None:
    """Rows were inserted with their own ids: the next id PostgreSQL hands out must come after them."""
    if not target.is_postgresql:
        return  # SQLite takes the next rowid from the rows themselves
    for table in _copied_tables():
        column = table.autoincrement_column
        if column is None:
            continue
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f'coalesce(max("{column.name}"), 0) + 1, false) FROM "{table.name}"'
            ),
            {"table": table.name, "column": column.name},
        )


def copy_store(source: CaseStore, target: CaseStore, user: str = "system") -> CopyReport:
    """Copy every row of `source` into the empty `target` (both already at the current schema version)."""
    if source.url == target.url:
        raise FundflowError("源库与目标库相同 / the source and the target are the same database")
    rows: dict[str, int] = {}
    with source.read() as reading, target.write() as writing:
        _refuse_unless_empty(writing)
        source_heads = _heads(reading)
        for table in _copied_tables():
            if table is chain_heads:
                writing.execute(chain_heads.delete())  # the new store's genesis heads give way to the source's
            rows[table.name] = 0
            result = reading.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings()
            while batch := result.fetchmany(BATCH_ROWS):
                writing.execute(table.insert(), [dict(row) for row in batch])
                rows[table.name] += len(batch)
            log.info("%s: %d 行 / rows", table.name, rows[table.name])
        _restart_sequences(target, writing)
        # Verify inside the transaction: a copy whose chains do not hold is rolled back, leaving the target empty.
        chains = target.verify_chains(writing)
        for report in chains:
            if not report.ok:
                raise FundflowError(
                    f"复制后哈希链校验失败，未保留任何数据 / the {report.chain} chain does not verify after the copy "
                    f"(seq {report.first_bad_seq}: {report.problem}); nothing kept"
                )
        if _heads(writing) != source_heads:
            raise FundflowError(
                "复制后链头与源库不符，未保留任何数据 / the chain heads differ from the source; nothing kept"
            )
        target.append_audit(
            writing,
            user,
            "store_copy",
            target=shown_url(source.url),
            reason="线索库迁移 / case store copied here",
            detail={"rows": rows, "heads": {chain: hash_ for chain, (_, hash_) in source_heads.items()}},
        )
    return CopyReport(rows=rows, chains=chains)
