"""`fundflow ingest` and `fundflow quarantine list`: per-file counts and the reasons rows were held back."""

from __future__ import annotations

import json
import re
import sys

from pipelines.formatting import printable, table_text
from pipelines.ingest.load import FileResult, ingest_paths
from pipelines.masking import mask_account, mask_id, mask_phone
from pipelines.settings import Settings
from pipelines.vocabulary import INGEST_STATUS
from pipelines.warehouse import db as warehouse

RESULT_COLUMNS = (
    ("file_name", "文件 file"),
    ("status", "状态 status"),
    ("rows_read", "读取 read"),
    ("loaded", "入库 loaded"),
    ("quarantined", "隔离 quarantined"),
    ("replaced", "替换 replaced"),
    ("duplicates", "重复跳过 duplicates"),
    ("warned", "警告 warned"),
)
QUARANTINE_COLUMNS = (
    ("file_name", "文件 file"),
    ("row_no", "行 row"),
    ("field", "字段 field"),
    ("reason_code", "原因 reason"),
    ("message", "说明 message"),
    ("raw_value", "原值 raw value"),
)
LONG_NUMBER = re.compile(r"[0-9]{15,}[0-9Xx]?")
MASKERS = {
    "customer_id_no": mask_id,
    "counterparty_id_no": mask_id,
    "legal_rep_id_no": mask_id,
    "agent_id_no": mask_id,
    "account_no": mask_account,
    "counterparty_account_no": mask_account,
    "customer_phone": mask_phone,
    "line": lambda line: LONG_NUMBER.sub(lambda found: mask_id(found.group()), line),
}


def _cell(result: FileResult, key: str) -> str:
    value = getattr(result, key)
    if key == "status":
        return INGEST_STATUS[value]
    if isinstance(value, int):
        return f"{value:,}" if result.status == "loaded" else "-"
    return str(value)


def ingest_command(args, settings: Settings) -> int:
    results = ingest_paths(settings, args.paths, kind=args.kind, institution=args.institution, sheet=args.sheet)
    # File names and fields come from outside: a control character in them is shown, never acted on.
    rows = [[printable(_cell(result, key)) for key, _ in RESULT_COLUMNS] for result in results]
    print(table_text([label for _, label in RESULT_COLUMNS], rows))
    for result in results:
        for note in result.notes:
            print(printable(f"注意 / note: {result.file_name}: {note}"))
    failed = [result for result in results if result.status == "failed"]
    for result in failed:
        print(printable(f"错误 / error: {result.error}"), file=sys.stderr)
    return 1 if failed else 0


def quarantine_command(args, settings: Settings) -> int:
    con = warehouse.connect(settings)
    try:
        where, params = "", []
        if args.file:
            where, params = "WHERE file_name = ? OR file_id LIKE ?", [args.file, args.file.lower() + "%"]
        found = con.execute(
            f"""
            SELECT file_name, row_no, field, reason_code, message, raw_value FROM quarantine {where}
            ORDER BY quarantined_at, file_name, row_no, field LIMIT ?""",
            [*params, args.limit],
        ).fetchall()
        total = warehouse.scalar(con, f"SELECT count(*) FROM quarantine {where}", params)
    finally:
        con.close()
    records = [dict(zip([key for key, _ in QUARANTINE_COLUMNS], row)) for row in found]
    for record in records:
        # Raw values are personal data where the field is an ID, account or phone number.
        record["raw_value"] = MASKERS.get(record["field"], str)(record["raw_value"] or "")
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=1))
        return 0
    print(
        table_text(
            [label for _, label in QUARANTINE_COLUMNS],
            [[printable(str(record[key])) for key, _ in QUARANTINE_COLUMNS] for record in records],
        )
    )
    print(f"共 {total:,} 条隔离记录，显示 {len(records):,} 条 / {total:,} quarantined, {len(records):,} shown")
    return 0
