"""`fundflow register add|remove|list`: the register of known lawful entities (pipelines/cases/register.py).
Changes need a supervisor or admin (--user) and a reason (--note); both go into the audit log."""

from __future__ import annotations

from pipelines.cases.register import add_entry, list_entries, remove_entry
from pipelines.cases.store import CaseStore
from pipelines.errors import FundflowError
from pipelines.formatting import table_text
from pipelines.masking import mask_account
from pipelines.settings import Settings
from pipelines.vocabulary import LOOKALIKE_KINDS


def register_command(args, settings: Settings) -> int:
    store = CaseStore.open(settings)
    try:
        if args.action == "add":
            if not args.name or not args.kind:
                raise FundflowError("用法 / usage: register add --name NAME --kind KIND (--account NO | --id-no CODE)")
            entry_id = add_entry(
                store,
                args.user or "",
                args.name,
                args.kind,
                args.note or "",
                account_no=args.account,
                id_no=args.id_no,
                licence=args.licence,
            )
            print(f"已登记 / registered: #{entry_id} {args.name}")
        elif args.action == "remove":
            if len(args.rest) != 1 or not args.rest[0].isdigit():
                raise FundflowError("用法 / usage: register remove ENTRY_ID --user NAME --note WHY")
            remove_entry(store, args.user or "", int(args.rest[0]), args.note or "")
            print(f"已移出名录 / removed from the register: #{args.rest[0]}")
        else:
            rows = [
                [
                    str(entry["entry_id"]),
                    entry["name"],
                    LOOKALIKE_KINDS.get(entry["kind"], entry["kind"]),
                    mask_account(entry["account_no"]) if entry["account_no"] else "",
                    entry["id_no"] or "",
                    entry["licence"] or "",
                    f"{entry['added_by']} {entry['added_at']:%Y-%m-%d}",
                    "已移出 " + entry["removed_by"] if entry["removed_at"] else "有效",
                ]
                for entry in list_entries(store, include_removed=args.all)
            ]
            if not rows:
                print("名录为空 / the register is empty")
                return 0
            print(table_text(["编号", "名称", "类别", "账号", "信用代码", "许可证号", "登记", "状态"], rows))
    finally:
        store.close()
    return 0
