"""`fundflow generate`: a synthetic county with hidden schemes."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from data_samples.generator import DEFAULT_START, GenerateError, generate_county


def generate_command(args, settings) -> int:
    try:
        start = date.fromisoformat(args.start) if args.start else DEFAULT_START
    except ValueError:
        raise GenerateError(f"开始日期应为 YYYY-MM-DD / start must be YYYY-MM-DD: '{args.start}'") from None
    began = time.perf_counter()
    summary = generate_county(
        Path(args.out),
        persons=args.persons,
        orgs=args.orgs,
        days=args.days,
        schemes=args.schemes,
        seed=args.seed,
        fmt=args.format,
        reporting=args.reporting,
        encoding=args.encoding,
        start=start,
        county_code=settings.county_code,
        lookalikes=args.lookalikes == "on",
        disguised=args.disguised,
    )
    seconds = time.perf_counter() - began
    print(
        f"已生成 {summary['files']} 个报告文件、{summary['rows']:,} 行（{summary['payments']:,} 笔交易），"
        f"{summary['schemes']} 个隐藏集资模型，用时 {seconds:.1f} 秒 / generated {summary['files']} report files, "
        f"{summary['rows']:,} lines ({summary['payments']:,} payments), {summary['schemes']} hidden schemes "
        f"in {seconds:.1f} s"
    )
    print(f"报告文件 / report files: {summary['reports_dir']}")
    print(f"真实答案 / ground truth: {summary['truth_dir']}")
    return 0
