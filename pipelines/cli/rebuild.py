"""`fundflow rebuild`: rebuild the derived tables (payments, parties, actors) from txn, for repair (DESIGN §6)."""

from __future__ import annotations

from pipelines.settings import Settings


def rebuild_command(args, settings: Settings) -> int:
    from pipelines.warehouse import db as warehouse
    from pipelines.warehouse.db import one_row
    from pipelines.warehouse.prepare import prepare_warehouse

    con = warehouse.connect(settings)
    try:
        print(f"重建派生表 / rebuilding derived tables from txn: {settings.warehouse_path}")
        result = prepare_warehouse(con, settings, mode="rebuild")
        methods = dict(con.execute("SELECT match_method, count(*) FROM payments GROUP BY 1 ORDER BY 1").fetchall())
        parties, actors = one_row(con, "SELECT (SELECT count(*) FROM parties), (SELECT count(*) FROM actors)")
    finally:
        con.close()
    shown = ", ".join(f"{method} {count:,}" for method, count in methods.items()) or "0"
    print(f"付款 / payments: {sum(methods.values()):,} ({shown})")
    print(f"账户 / parties: {parties:,}")
    print(f"主体 / actors: {actors:,}")
    print(f"用时 / seconds: {result.seconds.get('total', 0):.1f}")
    return 0
