"""`fundflow generate`: a synthetic county with hidden fundraising schemes, written as bank report files.

Output folder: `reports/` (one file per bank per month per kind, `<institution>_<YYYYMM>_<KIND>.<ext>`),
`truth/accounts.csv` and `truth/schemes.csv` (the hidden schemes), `truth/lookalikes.csv` (the lawful look-alikes'
own accounts by kind: co-op, care home, insurer, bank wealth product, merchant), `truth/institutions.csv` (per bank and month:
lines written by kind, transfer legs the other bank reported and this one did not), `truth/suspicious_reporting.csv`
(scheme accounts and flagged accounts: bank, role, reported as suspicious or not), and `manifest.json`. Same seed, same
bytes. Look-alikes (on by default) and disguised schemes (`disguised`, after the others) draw from their own
random streams, so turning them on leaves every other payment of the county as it was. Size: about 0.97 report lines per person per day (persons=100,000, days=90 → about 8.7 million lines).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from data_samples.synth import batch as b
from data_samples.synth import reports
from data_samples.synth.background import block_payments, plan_life
from data_samples.synth.county import (
    County,
    append_accounts,
    make_accounts,
    make_banks,
    make_orgs,
    make_persons,
)
from data_samples.synth.lookalikes import (
    LookAlike,
    entity_banks,
    lookalike_accounts,
    lookalike_payments,
    plan_lookalikes,
)
from data_samples.synth.schemes import (
    DISGUISED_KINDS,
    PRIMARY_TYPOLOGY,
    Scheme,
    attach_accounts,
    controller_accounts,
    plan_schemes,
    scheme_payments,
)
from pipelines.errors import FundflowError

DEFAULT_START = date(2025, 1, 1)
ROWS_PER_PERSON_DAY = 0.97
EXTRA_SERIAL = 4_000_000_000_000
"""Serial numbers of look-alike and disguised-scheme payments start here, so the others keep theirs."""
"""Rough report lines per person per day with full reporting; benchmarks size their runs with it."""


class GenerateError(FundflowError):
    """Parameters of `fundflow generate` that cannot make a county."""


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """Independent streams per part and per month, so one part's size never shifts another's draws."""
    return np.random.default_rng([seed, *stream])


def _check(
    out_dir: Path,
    persons: int,
    days: int,
    schemes: int,
    fmt: str,
    reporting: str,
    encoding: str,
    start: date,
    disguised: int = 0,
) -> None:
    if persons < 200:
        raise GenerateError(f"人数至少 200 / persons must be at least 200: {persons}")
    if not 7 <= days <= 3660:
        raise GenerateError(f"天数应在 7 到 3660 之间 / days must be between 7 and 3660: {days}")
    if not 0 <= schemes <= 100:
        raise GenerateError(f"集资模型数应在 0 到 100 之间 / schemes must be between 0 and 100: {schemes}")
    if not 0 <= disguised <= 20 or schemes + disguised > 99:
        raise GenerateError(
            f"伪装模型数应在 0 到 20 之间，且与集资模型合计不超过 99 / disguised must be 0–20 and schemes + disguised "
            f"at most 99: {disguised}"
        )
    if fmt not in ("csv", "xlsx", "xml") or reporting not in ("full", "realistic"):
        raise GenerateError(f"未知格式 / unknown format or reporting: {fmt}, {reporting}")
    if encoding not in ("utf-8", "gb18030") or (encoding != "utf-8" and fmt != "csv"):
        raise GenerateError(f"编码只适用于 CSV / encoding applies to CSV only: {encoding} {fmt}")
    if date.fromordinal(start.toordinal() + days) > date.today():
        raise GenerateError(f"模拟期不能晚于今天 / the period must end by today: {start} + {days} days")
    reports_dir = out_dir / "reports"
    if reports_dir.exists() and any(reports_dir.iterdir()) and not (out_dir / "manifest.json").exists():
        raise GenerateError(
            f"输出目录已有其他文件 / output folder holds files not made by the generator: {reports_dir}"
        )


def generate_county(
    out_dir,
    persons: int = 5000,
    orgs: int | None = None,
    days: int = 90,
    schemes: int = 6,
    seed: int = 1,
    fmt: str = "csv",
    reporting: str = "full",
    encoding: str = "utf-8",
    start: date = DEFAULT_START,
    county_code: str = "330782",
    lookalikes: bool = True,
    disguised: int = 0,
) -> dict:
    """Generate a county into `out_dir`; returns the summary also written to manifest.json. `lookalikes`: found
    lawful look-alikes (about one of each kind per 2,500 persons); `disguised`: schemes posing as each kind."""
    out_dir = Path(out_dir)
    _check(out_dir, persons, days, schemes, fmt, reporting, encoding, start, disguised)
    for owned in ("reports", "truth"):
        shutil.rmtree(out_dir / owned, ignore_errors=True)
    reports_dir, truth_dir = out_dir / "reports", out_dir / "truth"
    reports_dir.mkdir(parents=True)
    truth_dir.mkdir(parents=True)

    county = County(start=start, days=days, county_code=county_code, banks=make_banks(county_code))
    make_persons(county, _rng(seed, 1), persons, max(20, persons // 20))
    make_orgs(county, _rng(seed, 2), orgs if orgs else max(60, persons // 30))
    planned, force_two, extra_accounts, org_opened = plan_schemes(county, _rng(seed, 3), schemes)
    extra = make_accounts(county, _rng(seed, 4), force_two, extra_accounts, org_opened)
    attach_accounts(county, planned, extra)
    life = plan_life(county, _rng(seed, 5))
    twins, entities = add_lookalikes(county, planned, seed, persons, lookalikes, disguised)
    scheme_part = b.concat(
        [scheme_payments(county, scheme, _rng(seed, 6, index)) for index, scheme in enumerate(planned)]
    )
    twin_part = b.concat([scheme_payments(county, scheme, _rng(seed, 12, index)) for index, scheme in enumerate(twins)])
    flagged = flag_accounts(county, planned, _rng(seed, 7)) if reporting == "realistic" else {}
    if reporting == "realistic":
        flagged = flag_lookalikes(county, twins, entities, flagged, _rng(seed, 15))

    files: list[dict] = []
    institution_truth: list[dict] = []
    n_payments = 0
    n_extra = 0
    total_cents = 0
    clock = reports.Clock(county)
    for month_index, (d0, d1, month) in enumerate(month_blocks(start, days)):
        in_block = (scheme_part["day"] >= d0) & (scheme_part["day"] < d1)
        payments = reports.order_payments(
            b.concat(
                [block_payments(county, life, d0, d1, _rng(seed, 8, month_index)), b.select(scheme_part, in_block)]
            )
        )
        legs = reports.make_legs(county, payments, n_payments, _rng(seed, 9, month_index))
        n_payments += len(payments["day"])
        total_cents += int(payments["cents"].sum())
        in_block = (twin_part["day"] >= d0) & (twin_part["day"] < d1)
        extra_payments = reports.order_payments(
            b.concat(
                [
                    lookalike_payments(county, entities, d0, d1, life.dom, _rng(seed, 11, month_index)),
                    b.select(twin_part, in_block),
                ]
            )
        )
        if len(extra_payments["day"]):
            extra_legs = reports.make_legs(county, extra_payments, EXTRA_SERIAL + n_extra, _rng(seed, 14, month_index))
            legs = pl.concat([legs, extra_legs]).sort(["bank", "t", "serial", "dir"])
            n_extra += len(extra_payments["day"])
            total_cents += int(extra_payments["cents"].sum())
        files += write_month(
            county, clock, legs, month, fmt, reporting, encoding, flagged, reports_dir, institution_truth
        )
        del payments, legs

    write_truth(county, planned + twins, truth_dir)
    write_lookalike_truth(county, entities, truth_dir)
    write_reporting_truth(county, planned + twins, flagged, institution_truth, truth_dir)
    summary = {
        "files": len(files),
        "rows": sum(item["rows"] for item in files),
        "payments": n_payments + n_extra,
        "amount_total": f"{total_cents // 100}.{total_cents % 100:02d}",
        "schemes": len(planned) + len(twins),
        "disguised_schemes": len(twins),
        "lookalikes": len(entities),
        "scheme_investors": sum(scheme.n_investors_paid for scheme in planned + twins),
        "flagged_accounts": len(flagged),
        "persons": county.n_persons,
        "organisations": len(county.org_kind),
        "accounts": len(county.acct_bank),
    }
    manifest = {
        "parameters": {
            "persons": persons,
            "orgs": orgs,
            "days": days,
            "schemes": schemes,
            "seed": seed,
            "format": fmt,
            "reporting": reporting,
            "encoding": encoding,
            "start": start.isoformat(),
            "county_code": county_code,
            "lookalikes": lookalikes,
            "disguised": disguised,
        },
        "summary": summary,
        "files": files,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return {**summary, "out_dir": str(out_dir), "reports_dir": str(reports_dir), "truth_dir": str(truth_dir)}


def add_lookalikes(
    county: County, planned: list[Scheme], seed: int, persons: int, lookalikes: bool, disguised: int
) -> tuple[list[Scheme], list[LookAlike]]:
    """Plan the disguised schemes and the lawful look-alikes, and open their accounts, after everything else
    (own random streams), so the rest of the county is drawn exactly as without them."""
    if not lookalikes and not disguised:
        return [], []
    roles = [np.r_[scheme.controllers, scheme.promoters, scheme.collectors, [scheme.hub_person]] for scheme in planned]
    taken = np.unique(np.concatenate(roles)).astype(np.int64) if roles else np.zeros(0, dtype=np.int64)
    taken = taken[taken >= 0]
    twins, force_two, extra_accounts, org_opened = plan_schemes(
        county,
        _rng(seed, 10, 1),
        disguised,
        DISGUISED_KINDS,
        first_number=len(planned) + 1,
        exclude=taken,
        invested=np.concatenate([scheme.investors for scheme in planned]).astype(np.int64) if planned else None,
    )
    assert not extra_accounts, "disguised schemes gather through their own organisation"
    entities, new_orgs = (
        plan_lookalikes(county, _rng(seed, 10, 2), max(1, persons // 2500)) if lookalikes else ([], np.zeros(0))
    )
    twin_orgs = np.array([scheme.hub_org for scheme in twins], dtype=np.int64)
    bank_rng = _rng(seed, 10, 3)
    banks = np.r_[
        bank_rng.choice(np.flatnonzero(county.reporting()), size=len(twin_orgs)),
        entity_banks(county, entities, new_orgs, bank_rng) if entities else np.zeros(0, dtype=np.int64),
    ].astype(np.int64)
    append_accounts(county, _rng(seed, 10, 4), np.r_[twin_orgs, new_orgs].astype(np.int64), force_two, banks)
    for org, day in org_opened.items():
        county.acct_opened[county.org_acct[org]] = day
        county.acct_active_from[county.org_acct[org]] = day
    attach_accounts(county, twins, np.zeros(0, dtype=np.int64))
    return twins, entities


def flag_lookalikes(
    county: County, twins: list[Scheme], entities: list[LookAlike], flagged: dict, rng: np.random.Generator
) -> dict[int, tuple[str, str]]:
    """Banks flag most disguised hubs, and many lawful look-alikes too (their crowds of payers look the same)."""
    flagged = dict(flagged)
    for scheme in twins:
        if rng.random() < 0.8:
            flagged.setdefault(scheme.hub_acct, ("0101", "短期内资金分散转入、集中转出，交易对手多为中老年个人"))
    for account, _kind, role in lookalike_accounts(county, entities):
        if role == "entity" and rng.random() < 0.6:
            flagged.setdefault(account, ("0199", "交易对手众多，资金往来频繁"))
    return dict(sorted(flagged.items()))


def write_lookalike_truth(county: County, entities: list[LookAlike], truth_dir: Path) -> None:
    """truth/lookalikes.csv: account_no, kind, role (entity; an insurer's head_office; a bank's settlement
    account), name. None of these is a scheme account; a disguised twin is a scheme in accounts.csv."""
    account_no, names = county.acct_table["account_no"], county.acct_table["name"]
    rows = [
        (account_no[account], kind, role, names[account])
        for account, kind, role in lookalike_accounts(county, entities)
    ]
    pl.DataFrame(rows, schema=["account_no", "kind", "role", "name"], orient="row").write_csv(
        truth_dir / "lookalikes.csv"
    )


def month_blocks(start: date, days: int):
    """(first day, end day, 'YYYYMM') of each calendar month the period touches."""
    day = 0
    while day < days:
        current = date.fromordinal(start.toordinal() + day)
        next_month = date(current.year + current.month // 12, current.month % 12 + 1, 1)
        end = min(days, next_month.toordinal() - start.toordinal())
        yield day, end, f"{current.year}{current.month:02d}"
        day = end


def write_month(
    county: County,
    clock: reports.Clock,
    legs: pl.DataFrame,
    month: str,
    fmt: str,
    reporting: str,
    encoding: str,
    flagged: dict,
    reports_dir: Path,
    institution_truth: list[dict],
) -> list[dict]:
    written = []
    if reporting == "full":
        selections = {"SUSPICIOUS": np.ones(len(legs), dtype=bool)}
    else:
        selections = {
            "LARGE": reports.large_value_lines(county, legs).to_numpy(),
            "SUSPICIOUS": np.isin(legs["acct"].to_numpy(), np.array(list(flagged), dtype=np.int64)),
        }
    bank_of_leg = legs["bank"].to_numpy()
    for bank_index, bank in enumerate(county.banks):
        if not bank.reporting:
            continue
        style = reports.XML_STYLE if fmt == "xml" else reports.STYLES[bank_index % len(reports.STYLES)]
        for kind, selected in selections.items():
            chosen = legs.filter(pl.Series(selected & (bank_of_leg == bank_index)))
            if chosen.is_empty():
                continue
            suspicion = flagged if (kind == "SUSPICIOUS" and reporting == "realistic") else None
            frame = reports.report_frame(county, clock, bank_index, style, kind, chosen, suspicion)
            path = reports_dir / f"{bank.code}_{month}_{kind}.{fmt}"
            if fmt == "csv":
                reports.write_csv(frame, path, encoding)
            elif fmt == "xlsx":
                reports.write_xlsx(frame, path)
            else:
                reports.write_xml(frame, path, kind, bank.code, bank.name)
            written.append({"name": path.name, "rows": frame.height})
    institution_truth += reporting_truth(county, legs, selections, month)
    return written


def reporting_truth(county: County, legs: pl.DataFrame, selections: dict, month: str) -> list[dict]:
    """Per reporting bank: lines written by kind, and of the transfers between two reporting banks whose other
    leg was written, how many legs this bank's files left out (what the scorecard calls missing legs)."""
    written = np.zeros(len(legs), dtype=bool)
    for selected in selections.values():
        written |= selected
    frame = legs.select("serial", "bank").with_columns(written=pl.Series(written))
    per_payment = frame.group_by("serial").agg(pl.len().alias("legs"), pl.col("written").sum().alias("n_written"))
    frame = frame.join(per_payment, on="serial").with_columns(
        expected=(pl.col("legs") == 2) & (pl.col("n_written") - pl.col("written").cast(pl.UInt32) > 0)
    )
    rows = []
    for bank_index, bank in enumerate(county.banks):
        if not bank.reporting:
            continue
        mine = frame.filter(pl.col("bank") == bank_index)
        row: dict[str, object] = {"institution_code": bank.code, "month": month}
        for kind, selected in selections.items():
            row[f"lines_{kind.lower()}"] = int((selected & (legs["bank"].to_numpy() == bank_index)).sum())
        row["transfer_sides"] = int(mine["expected"].sum())
        row["missing_legs"] = int((mine["expected"] & ~mine["written"]).sum())
        rows.append(row)
    return rows


def write_reporting_truth(
    county: County, schemes: list[Scheme], flagged: dict, rows: list[dict], truth_dir: Path
) -> None:
    """truth/institutions.csv from `reporting_truth`; truth/suspicious_reporting.csv: every scheme account but
    the participants, and every account the banks flag, with its bank (empty if outside the county), its role
    in the scheme (empty for a decoy) and whether its bank reports it as suspicious."""
    columns = ["institution_code", "month", "lines_large", "lines_suspicious", "transfer_sides", "missing_legs"]
    pl.DataFrame(
        [{name: row.get(name, 0) for name in columns} for row in rows], schema=columns, orient="row"
    ).write_csv(truth_dir / "institutions.csv")
    roles: dict[int, str] = {}
    for scheme in schemes:
        for accounts, role in (
            ([scheme.hub_acct], "hub"),
            (scheme.collector_accts, "collector"),
            (controller_accounts(county, scheme), "controller"),
            (county.person_acct1[scheme.promoters], "promoter"),
        ):
            for account in accounts:
                roles.setdefault(int(account), role)
    account_no = county.acct_table["account_no"]
    records = []
    for account in sorted(set(roles) | set(flagged)):
        bank = county.banks[int(county.acct_bank[account])]
        code, _text = flagged.get(account, ("", ""))
        records.append(
            (account_no[account], bank.code if bank.reporting else "", roles.get(account, ""), account in flagged, code)
        )
    pl.DataFrame(
        records, schema=["account_no", "institution_code", "role", "flagged", "suspicion_code"], orient="row"
    ).write_csv(truth_dir / "suspicious_reporting.csv")


def flag_accounts(county: County, schemes: list[Scheme], rng: np.random.Generator) -> dict[int, tuple[str, str]]:
    """Accounts the banks flag: most scheme hubs and collectors, some controllers, and legitimate decoys."""
    flagged: dict[int, tuple[str, str]] = {}
    missed_hubs = (
        set(rng.choice(len(schemes), size=(len(schemes) + 4) // 5, replace=False).tolist())
        if len(schemes) >= 2
        else set()
    )
    for index, scheme in enumerate(schemes):
        if index not in missed_hubs:
            flagged[scheme.hub_acct] = (
                ("0103", "频繁接近大额标准交易")
                if scheme.kind == "blockchain"
                else ("0101", "短期内资金分散转入、集中转出，交易对手多为中老年个人")
            )
        for account in scheme.collector_accts:
            if rng.random() < 0.6:
                flagged[int(account)] = ("0102", "资金快进快出，过渡性质明显")
        for account in controller_accounts(county, scheme):
            if rng.random() < 0.3:
                flagged[int(account)] = (
                    ("0104", "频繁接近大额标准取现") if scheme.cash_out else ("0199", "与关联企业资金往来频繁")
                )
    decoys = [county.orgs_of(kind) for kind in ("supermarket", "school", "wholesaler", "wealth")]
    for group in decoys:
        flagged.setdefault(int(county.org_acct[rng.choice(group)]), ("0199", "交易对手众多，资金往来频繁"))
    residents = county.residents
    for person in rng.choice(residents, size=max(2, len(residents) // 2000), replace=False):
        flagged.setdefault(int(county.person_acct1[person]), ("0199", "交易频繁，与身份不符"))
    return dict(sorted(flagged.items()))


def write_truth(county: County, schemes: list[Scheme], truth_dir: Path) -> None:
    account_no = county.acct_table["account_no"]
    rows = []
    for scheme in schemes:
        primary = PRIMARY_TYPOLOGY[scheme.kind]
        controller_typology = "cash_out" if scheme.cash_out else "controlled_accounts"
        roles = [
            ([scheme.hub_acct], "hub", primary),
            (scheme.collector_accts, "collector", "pass_through"),
            (controller_accounts(county, scheme), "controller", controller_typology),
            (county.person_acct1[scheme.promoters], "promoter", "insider_commission"),
            (np.unique(scheme.investor_accts), "investor", primary),
        ]
        seen: set[int] = set()
        for accounts, role, typology in roles:
            for account in accounts:
                if int(account) in seen:
                    continue
                seen.add(int(account))
                rows.append((account_no[int(account)], scheme.scheme_id, typology, role))
    pl.DataFrame(rows, schema=["account_no", "scheme_id", "typology", "role"], orient="row").write_csv(
        truth_dir / "accounts.csv"
    )
    start = county.start.toordinal()
    pl.DataFrame(
        {
            "scheme_id": [scheme.scheme_id for scheme in schemes],
            "kind": [scheme.kind for scheme in schemes],
            "typologies": [";".join(scheme.typologies) for scheme in schemes],
            "hub_account": [account_no[scheme.hub_acct] for scheme in schemes],
            "n_investors": [scheme.n_investors_paid for scheme in schemes],
            "total_raised": [f"{scheme.total_raised // 100}.{scheme.total_raised % 100:02d}" for scheme in schemes],
            "start": [date.fromordinal(start + max(scheme.start, 0)).isoformat() for scheme in schemes],
            "end": [date.fromordinal(start + min(scheme.end, county.days) - 1).isoformat() for scheme in schemes],
            "uses_keyword_memo": [scheme.uses_keyword_memo for scheme in schemes],
        },
        schema_overrides={"n_investors": pl.Int64},
    ).write_csv(truth_dir / "schemes.csv")
