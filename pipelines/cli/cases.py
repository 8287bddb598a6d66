"""`fundflow cases migrate --to URL`: copy this office's case store (its SQLite file by default) to another
database, typically PostgreSQL, with every hash chain verified on the copy."""

from __future__ import annotations

import sqlalchemy as sa

from pipelines.cases.copying import copy_store, shown_url
from pipelines.cases.store import CaseStore
from pipelines.errors import FundflowError
from pipelines.settings import Settings


def cases_command(args, settings: Settings) -> int:
    if not args.to:
        raise FundflowError("请用 --to 给出目标库 / give the target with --to postgresql+psycopg://user@host/db")
    try:
        shown = shown_url(args.to)
    except sa.exc.ArgumentError:
        raise FundflowError(f"不是数据库地址 / not a database URL: {args.to}") from None
    source = CaseStore.open(settings)
    try:
        target = CaseStore(args.to, settings)
    except sa.exc.OperationalError as exc:
        source.close()
        raise FundflowError(f"无法打开目标库 / cannot open the target {shown}: {exc.orig}") from None
    except BaseException:
        source.close()
        raise
    try:
        report = copy_store(source, target, user=args.user or "system")
    finally:
        target.close()
        source.close()
    print(f"已复制 / copied {shown_url(source.url)} → {shown}")
    for table, count in report.rows.items():
        print(f"  {table}\t{count}")
    for chain in report.chains:
        print(f"哈希链完整 / {chain.chain} chain intact ({chain.checked})")
    print(f"今后请设置 / from now on set: FUNDFLOW_CASES_URL={shown}")
    return 0
