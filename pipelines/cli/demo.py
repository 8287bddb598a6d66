"""`make run`: generate a small county with hidden schemes, put it in the inbox with the hand-made bank files,
run the nightly flow once, and show what an analyst would want to see first."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from pipelines.formatting import yuan
from pipelines.settings import PROJECT_ROOT, Settings

SAMPLE_FILES = PROJECT_ROOT / "data_samples" / "bank_files"


def fill_inbox(settings: Settings, persons: int, seed: int) -> Path:
    """Copy a generated county and the hand-made samples into the inbox; returns the generated folder."""
    from data_samples.generator import generate_county

    county = settings.home / "generated" / f"county-seed{seed}"
    print(f"生成模拟县域数据 / generating a county: {persons} 人, seed {seed} → {county}")
    generate_county(county, persons=persons, days=90, seed=seed)
    for source, target in (
        (county / "reports", settings.inbox / "generated"),
        (SAMPLE_FILES, settings.inbox / "samples"),
    ):
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copy2(path, target / path.name)
    return county


def planted_accounts(county: Path) -> dict[str, str]:
    """account_no → scheme id, for the scheme accounts that are not investors."""
    with open(county / "truth" / "accounts.csv", newline="", encoding="utf-8") as handle:
        return {row["account_no"]: row["scheme_id"] for row in csv.DictReader(handle) if row["role"] != "investor"}


def show_top_leads(settings: Settings, planted: dict[str, str], limit: int = 10) -> None:
    from pipelines.cases.store import CaseStore
    from pipelines.vocabulary import LEAD_STATUS

    store = CaseStore.open(settings)
    try:
        leads = store.list_leads(limit=limit)
        print(f"\n得分最高的线索 / top leads ({len(leads)}):")
        for lead in leads:
            accounts = {account["account_no"] for account in store.get_lead(lead["lead_id"])["accounts"]}
            schemes = sorted({planted[account] for account in accounts if account in planted})
            mark = f"  ✓ 模拟集资方案 planted scheme {', '.join(schemes)}" if schemes else ""
            print(
                f"\n{lead['lead_id']}  {LEAD_STATUS.get(lead['status'], lead['status'])}  得分 {lead['score']:.1f}  "
                f"参与人 {lead['individual_payers']}  转入 {yuan(lead['total_in'])}{mark}"
            )
            print(f"  {lead['narrative']}")
            for reason in lead["reasons"][:4]:
                print(f"  · {reason['zh']}")
    finally:
        store.close()


def demo_command(args, settings: Settings) -> int:
    from pipelines.cli.nightly import print_summary
    from pipelines.flows import run_nightly

    settings.ensure_folders()
    county = fill_inbox(settings, args.persons, args.seed)
    print("运行夜间任务 / running the nightly flow (Prefect) …")
    summary = run_nightly(str(settings.home), None, settings.prefect_startup_seconds)
    print_summary(summary)
    show_top_leads(settings, planted_accounts(county))
    print(f"""
下一步 / next:
  控制台 console:   .venv/bin/fundflow --home {settings.home} users add 张三 --role supervisor
                    make console   →  http://127.0.0.1:8765
  线索 leads:       .venv/bin/fundflow --home {settings.home} leads list
  导出 export:      .venv/bin/fundflow --home {settings.home} export leads --out lead-list.xlsx
  回测 backtest:    .venv/bin/fundflow --home {settings.home} backtest --labels {county / "truth" / "accounts.csv"}""")
    return 1 if summary["failed"] else 0
