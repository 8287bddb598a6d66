"""Load files into the warehouse: stage → validate → write, one DuckDB transaction per file.

A file already loaded (same SHA-256) adds nothing. A row whose key is already in `txn` is skipped when its
content is the same and replaces the earlier version (kept in `txn_versions`) when it differs. After all
files of one call, the derived tables are brought up to date from the files loaded (warehouse.prepare).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.crashpoints import pause_point
from pipelines.errors import BadFileError, FundflowError
from pipelines.hashing import file_sha256
from pipelines.ingest.columns import BY_NAME, CANONICAL, REPORT_KINDS, REQUIRED
from pipelines.ingest.staging import SUFFIX_FORMATS, Staged, drop_staging, stage_file
from pipelines.ingest.validate import check, raw_rows_sql
from pipelines.settings import Settings
from pipelines.vocabulary import QUARANTINE_REASONS
from pipelines.warehouse import db as warehouse

LARGE_FILE_BYTES = 50_000_000
INSTITUTION_CODE_CHARS = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

log = logging.getLogger("fundflow.ingest")


@dataclass
class FileResult:
    file_name: str
    path: str
    file_id: str | None = None
    status: str = "failed"
    """loaded | duplicate_file | failed"""
    rows_read: int = 0
    loaded: int = 0
    quarantined: int = 0
    replaced: int = 0
    duplicates: int = 0
    warned: int = 0
    error: str = ""
    notes: list[str] = field(default_factory=list)


def after_step(step: str) -> None:
    """Called between the writes of one file ('quarantine', 'versions', 'txn'); tests replace it to crash."""


def defaults_from_name(path: Path) -> tuple[str | None, str | None]:
    """`<institution>_<anything>_<kind>.<ext>` → (institution, kind); either may be None."""
    parts = path.stem.split("_")
    if len(parts) < 2:
        return None, None
    institution = parts[0] if 0 < len(parts[0]) <= 16 and set(parts[0]) <= INSTITUTION_CODE_CHARS else None
    return institution, REPORT_KINDS.get(parts[-1].upper())


def expand_paths(paths: list[str | Path]) -> tuple[list[Path], list[FileResult]]:
    """Files as given, and the report files inside folders (by suffix, sorted); missing paths fail."""
    files: list[Path] = []
    missing: list[FileResult] = []
    for given in map(Path, paths):
        if given.is_dir():
            inside = sorted(
                p
                for p in given.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUFFIX_FORMATS
                and not any(part.startswith(".") for part in p.relative_to(given).parts)
            )
            if not inside:
                missing.append(
                    FileResult(
                        given.name,
                        str(given),
                        error=str(
                            BadFileError(
                                given, "文件夹中没有报告文件（.csv .txt .tsv .xlsx .xml） / no report files in folder"
                            )
                        ),
                    )
                )
            files.extend(inside)
        elif given.is_file():
            files.append(given)
        else:
            missing.append(
                FileResult(
                    given.name, str(given), error=str(BadFileError(given, "文件不存在 / no such file or folder"))
                )
            )
    return files, missing


def _progress_printer(path: Path, progress: bool):
    if not progress or not (sys.stderr.isatty() or path.stat().st_size >= LARGE_FILE_BYTES):
        return None
    started = time.monotonic()

    def say(message: str) -> None:
        log.info(f"  [{time.monotonic() - started:6.1f}s] {message}")

    return say


def _file_defaults(path: Path, staged: Staged, kind: str | None, institution: str | None) -> dict:
    name_institution, name_kind = defaults_from_name(path)
    if kind is not None and REPORT_KINDS.get(kind.upper()) is None:
        raise BadFileError(path, f"--kind 应为 LARGE 或 SUSPICIOUS / --kind must be LARGE or SUSPICIOUS: '{kind}'")
    default_kind = staged.report_kind or name_kind or (REPORT_KINDS[kind.upper()] if kind else None)
    default_institution = name_institution or institution
    if "report_kind" not in staged.columns and default_kind is None:
        raise BadFileError(
            path,
            "无法确定报告类型：文件无'报告类型'列，文件名也不是 <机构编码>_<任意>_<LARGE|SUSPICIOUS>；"
            "请用 --kind 指定 / report kind unknown: no report_kind column, file name not "
            "<institution>_<anything>_<kind>; use --kind",
        )
    if "institution_code" not in staged.columns and default_institution is None:
        raise BadFileError(
            path,
            "无法确定报告机构：文件无'报告机构编码'列，文件名也不以机构编码开头；请用 --institution "
            "指定 / institution unknown: no institution_code column or file-name prefix; "
            "use --institution",
        )
    missing = [
        name for name in REQUIRED if name not in staged.columns and name not in ("report_kind", "institution_code")
    ]
    if missing:
        labels = "、".join(BY_NAME[name].label_zh for name in missing)
        raise BadFileError(path, f"缺少必需列：{labels} / missing required columns: {', '.join(missing)}")
    return {"default_kind": default_kind, "default_institution": default_institution}


def _write(
    con: duckdb.DuckDBPyConnection, result: FileResult, path: Path, staged: Staged, now: datetime, skip: str
) -> None:
    """All writes of one file; the caller holds the transaction. `skip`: SQL excluding rows not to load."""
    file_id = result.file_id
    con.execute(
        """
        INSERT INTO quarantine
        SELECT $file_id, $file_name, row_no, e.field, e.reason_code, e.message, e.raw_value, r.raw_row, $now
        FROM (SELECT row_no, unnest(errors) AS e FROM ingest_checked WHERE len(errors) > 0)
        LEFT JOIN ingest_raw_rows r USING (row_no)
        UNION ALL
        SELECT $file_id, $file_name, d.row_no, 'txn_ref', 'duplicate_in_file',
               $duplicate_message || ' (row ' || d.first_row || ')', c.txn_ref, r.raw_row, $now
        FROM ingest_dups d JOIN ingest_checked c USING (row_no) LEFT JOIN ingest_raw_rows r USING (row_no)
        ORDER BY 3, 4""",
        {
            "file_id": file_id,
            "file_name": path.name,
            "now": now,
            "duplicate_message": QUARANTINE_REASONS["duplicate_in_file"],
        },
    )
    if staged.rejected:
        # One insert from a frame: row-by-row inserts took minutes for tens of thousands of rejected lines.
        rejected = pl.DataFrame(
            {
                "row_no": [line.row_no for line in staged.rejected],
                "message": [f"{QUARANTINE_REASONS['bad_csv_line']}: {line.message}" for line in staged.rejected],
                "raw_value": [line.raw for line in staged.rejected],
                "raw_row": [json.dumps({"line": line.raw}, ensure_ascii=False) for line in staged.rejected],
            },
            schema={"row_no": pl.Int64, "message": pl.Utf8, "raw_value": pl.Utf8, "raw_row": pl.Utf8},
        )
        con.register("ingest_rejected_lines", rejected)
        try:
            con.execute(
                """INSERT INTO quarantine SELECT $file_id, $file_name, row_no, 'line', 'bad_csv_line', message,
                    raw_value, raw_row, $now FROM ingest_rejected_lines""",
                {"file_id": file_id, "file_name": path.name, "now": now},
            )
        finally:
            con.unregister("ingest_rejected_lines")
    after_step("quarantine")
    con.execute(
        """
        INSERT INTO txn_versions
        SELECT t.*, $file_id, e.row_no, $now FROM txn t JOIN ingest_existing e USING (txn_id) WHERE NOT e.same""",
        {"file_id": file_id, "now": now},
    )
    con.execute("DELETE FROM txn WHERE txn_id IN (SELECT txn_id FROM ingest_existing WHERE NOT same)")
    after_step("versions")
    names = [name for _, name, *_ in con.execute("PRAGMA table_info('txn')").fetchall()]
    columns = ", ".join(names)
    selected = ", ".join("$file_id" if name == "file_id" else "$now" if name == "loaded_at" else name for name in names)
    con.execute(
        f"""
        INSERT INTO txn ({columns})
        SELECT {selected} FROM ingest_checked WHERE len(errors) = 0{skip}""",
        {"file_id": file_id, "now": now},
    )
    after_step("txn")
    # This `files` row, in the same transaction as the rows, marks the file pending for prepare_warehouse.
    con.execute(
        "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            file_id,
            path.name,
            str(path.resolve()),
            staged.format,
            staged.encoding,
            _single_value(con, "institution_code"),
            _single_value(con, "report_kind"),
            now,
            result.rows_read,
            result.loaded,
            result.quarantined,
            result.replaced,
            result.duplicates,
            result.warned,
        ],
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [""])[0][:200]


def _single_value(con: duckdb.DuckDBPyConnection, column: str) -> str | None:
    """The file's institution or kind when all its rows agree, else a comma list of what they say."""
    values = [
        value
        for (value,) in con.execute(
            f"SELECT DISTINCT {column} FROM ingest_checked WHERE {column} IS NOT NULL ORDER BY 1 LIMIT 5"
        ).fetchall()
    ]
    return ",".join(values) or None


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    path: str | Path,
    kind: str | None = None,
    institution: str | None = None,
    sheet: str | None = None,
    progress: bool = False,
) -> FileResult:
    """Load one file in one transaction. Raises BadFileError when the file as a whole cannot be read."""
    path = Path(path)
    result = FileResult(path.name, str(path))
    say = _progress_printer(path, progress)
    result.file_id = file_sha256(path)
    if con.execute("SELECT 1 FROM files WHERE file_id = ?", [result.file_id]).fetchone():
        result.status = "duplicate_file"
        return result
    now = datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
    try:
        try:
            staged = stage_file(con, settings, path, sheet, say)
            defaults = _file_defaults(path, staged, kind, institution)
            if say:
                say("校验 / validating")
            check(con, staged, defaults["default_kind"], defaults["default_institution"], now)
        except duckdb.Error as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise BadFileError(path, f"无法读取 / cannot read: {first_line}") from None
        except FundflowError:
            raise
        except (Exception, RecursionError) as exc:  # noqa: BLE001 - any reader failure is this file's, not the run's
            log.debug("reading %s failed", path, exc_info=True)
            raise BadFileError(path, f"无法读取 / cannot read: {type(exc).__name__}: {_one_line(exc)}") from None
        con.execute("""CREATE TEMP TABLE ingest_dups AS
            SELECT row_no, first_row FROM (
                SELECT row_no, min(row_no) OVER (PARTITION BY txn_id) AS first_row FROM ingest_checked
                WHERE len(errors) = 0 AND txn_id IN (
                    SELECT txn_id FROM ingest_checked WHERE len(errors) = 0 GROUP BY txn_id HAVING count(*) > 1))
            WHERE row_no > first_row""")
        con.execute(raw_rows_sql(staged))
        # A row already stored is a copy when everything the bank reported is equal, else a resubmission.
        same_content = " AND ".join(f"c.{name} IS NOT DISTINCT FROM t.{name}" for name in CANONICAL)
        con.execute(f"""CREATE TEMP TABLE ingest_existing AS
            SELECT c.txn_id, c.row_no, {same_content} AS same
            FROM ingest_checked c JOIN txn t USING (txn_id)
            WHERE len(c.errors) = 0 AND c.row_no NOT IN (SELECT row_no FROM ingest_dups)""")
        dups, same, replaced = warehouse.one_row(
            con,
            """SELECT (SELECT count(*) FROM ingest_dups),
            (SELECT count(*) FILTER (WHERE same) FROM ingest_existing),
            (SELECT count(*) FILTER (WHERE NOT same) FROM ingest_existing)""",
        )
        # Most files have no in-file duplicates and nothing already loaded: skip those anti-joins then.
        skip = (" AND row_no NOT IN (SELECT row_no FROM ingest_dups)" if dups else "") + (
            " AND txn_id NOT IN (SELECT txn_id FROM ingest_existing WHERE same)" if same else ""
        )
        records, with_errors, warned = warehouse.one_row(
            con,
            f"""SELECT count(*), count(*) FILTER (WHERE len(errors) > 0),
            count(*) FILTER (WHERE len(errors) = 0 AND len(warnings) > 0{skip})
            FROM ingest_checked""",
        )
        result.rows_read = records + len(staged.rejected)
        if staged.records is not None and staged.records != result.rows_read:
            raise BadFileError(
                path,
                f"记录数不一致：文件中 {staged.records:,} 条，读到 {result.rows_read:,} 条；整个文件未导入 / "
                f"record count mismatch: {staged.records:,} in the file, {result.rows_read:,} read; file refused whole",
            )
        result.quarantined = with_errors + dups + len(staged.rejected)
        result.duplicates, result.replaced, result.warned = same, replaced, warned
        result.loaded = result.rows_read - result.quarantined - result.duplicates
        result.notes = list(staged.notes)
        if say:
            say(f"写入 / writing {result.loaded:,} 行 rows")
        with warehouse.transaction(con):
            _write(con, result, path, staged, now, skip)
    finally:
        drop_staging(con)
    result.status = "loaded"
    if say:
        say("完成 / done")
    return result


def ingest_paths(
    settings: Settings,
    paths: list[str | Path],
    kind: str | None = None,
    institution: str | None = None,
    progress: bool = True,
    sheet: str | None = None,
) -> list[FileResult]:
    """Load files and folders; a file that fails whole is reported in its result, the others still load."""
    from pipelines.warehouse.prepare import prepare_warehouse

    files, results = expand_paths(paths)
    con = warehouse.connect(settings)
    try:
        for number, path in enumerate(files, start=1):
            if progress and sys.stderr.isatty():
                log.info(f"[{number}/{len(files)}] {path.name}")
            try:
                results.append(ingest_file(con, settings, path, kind, institution, sheet, progress))
            except FundflowError as exc:
                results.append(FileResult(path.name, str(path), error=str(exc)))
        pause_point("ingest-committed")
        # Also finishes derivations a killed earlier run left pending, though nothing new loaded now.
        prepare_warehouse(con, settings)
    finally:
        con.close()
    return results
