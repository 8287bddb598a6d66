"""The scorecard on a generated county with realistic reporting (Art. 5 large-value lines plus full statements
of the accounts the banks flag), checked against what the generator knows: lines written per bank and kind,
transfer legs the other bank reported and this one did not, no large-value line unfiled, and the scheme
accounts in leads that their banks never reported as suspicious."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from pipelines.cases.store import CaseStore, lead_accounts, leads
from pipelines.evaluation.institution_rules import load_scorecard_rules
from pipelines.evaluation.institutions import compute_scorecard, lead_suspects, parse_period
from pipelines.ingest.load import ingest_paths
from pipelines.warehouse import db as warehouse

PERIOD = parse_period("2025Q1")
TODAY = date(2025, 6, 30)


def read_csv(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def record_findings(settings, accounts: list[dict]) -> set[str]:
    """The office's findings as manual leads: one per scheme of its hub, collectors, controllers and promoters;
    the last scheme is found lawful (NOT_ILLEGAL). Returns the accounts of that lawful lead."""
    by_hub: dict[str, list[dict]] = {}
    hub = None
    for row in accounts:
        if row["role"] == "hub":
            hub = row["account_no"]
        if row["role"]:
            by_hub.setdefault(hub or row["account_no"], []).append(row)
    store = CaseStore.open(settings)
    now = store.now()
    lawful: set[str] = set()
    with store.write() as conn:
        for number, members in enumerate(by_hub.values(), start=1):
            lead_id = f"XS2025-{number:06d}"
            found_lawful = number == len(by_hub)
            status = "NOT_ILLEGAL" if found_lawful else "DETERMINED_ILLEGAL"
            conn.execute(
                leads.insert().values(
                    lead_id=lead_id,
                    ring_key=lead_id,
                    status=status,
                    source="manual",
                    total_in=0,
                    total_out=0,
                    individual_payers=0,
                    elderly_share=0.0,
                    provinces=[],
                    province_stats=[],
                    typologies=[],
                    rule_ids=[],
                    sectors=[],
                    keywords=[],
                    priority=[],
                    score=0.5,
                    narrative="人工认定",
                    reasons=[],
                    created_at=now,
                    updated_at=now,
                )
            )
            for member in members:
                conn.execute(
                    lead_accounts.insert().values(
                        lead_id=lead_id, account_no=member["account_no"], role=member["role"], total_in=0, total_out=0
                    )
                )
            store.append_event(conn, lead_id, "rev", "move", "认定", "CONSULTATION", status)
            if found_lawful:
                lawful = {member["account_no"] for member in members}
    store.close()
    return lawful


@pytest.mark.slow
def test_the_scorecard_agrees_with_the_generators_truth(settings, tmp_path):
    from data_samples.generator import generate_county

    county = tmp_path / "county"
    generate_county(county, persons=400, days=60, schemes=4, seed=3, reporting="realistic")
    manifest = json.loads((county / "manifest.json").read_text(encoding="utf-8"))
    manifest_rows = {item["name"]: item["rows"] for item in manifest["files"]}
    truth = read_csv(county / "truth" / "institutions.csv")
    accounts = read_csv(county / "truth" / "suspicious_reporting.csv")
    ingest_paths(settings, [county / "reports"], progress=False)
    lawful = record_findings(settings, accounts)
    rules = load_scorecard_rules(settings.institutions_rules_dir)

    store = CaseStore.open(settings)
    suspects = lead_suspects(store, rules.suspect_roles)
    store.close()
    con = warehouse.connect(settings)
    try:
        scorecard = compute_scorecard(con, rules, PERIOD, suspects, TODAY)
        banks = {row["institution_code"]: row for row in scorecard.summary}
        expected_banks = {row["institution_code"] for row in truth}
        assert set(banks) == expected_banks

        # files and lines per bank and kind: the manifest
        for code, row in banks.items():
            written = {name: rows for name, rows in manifest_rows.items() if name.startswith(code)}
            assert row["files"] == len(written)
            assert row["lines_large"] == sum(rows for name, rows in written.items() if "_LARGE" in name)
            assert row["lines_suspicious"] == sum(rows for name, rows in written.items() if "_SUSPICIOUS" in name)
            assert row["quarantine_rate"] == 0

        # missing legs: exactly the generator's count for every bank; month by month too
        for code, row in banks.items():
            mine = [t for t in truth if t["institution_code"] == code]
            assert (row["transfer_sides"], row["missing_legs"]) == (
                sum(int(t["transfer_sides"]) for t in mine),
                sum(int(t["missing_legs"]) for t in mine),
            ), code
            assert row["missing_leg_share"] == round(row["missing_legs"] / row["transfer_sides"], 4)
            # the generator files every line Art. 5 asks for: nothing large is known only from the counterparty
            assert row["large_unreported"] == 0, code
        month = next(t for t in truth if int(t["transfer_sides"]) > 0)
        monthly = compute_scorecard(con, rules, parse_period(month["month"]), suspects, TODAY)
        row = next(r for r in monthly.summary if r["institution_code"] == month["institution_code"])
        assert (row["transfer_sides"], row["missing_legs"]) == (
            int(month["transfer_sides"]),
            int(month["missing_legs"]),
        )
        assert row["lines_large"] == int(month["lines_large"])

        # missed suspicious reports: lead accounts in suspect roles at county banks that were never flagged
        expected_missed = {
            row["account_no"]
            for row in accounts
            if row["role"] in rules.suspect_roles
            and row["institution_code"]
            and row["flagged"] == "false"
            and row["account_no"] not in lawful
        }
        missed = {row["account_no"]: row for row in scorecard.tables["missed"]}
        assert missed and set(missed) <= expected_missed
        for account in expected_missed - set(missed):  # only accounts that never moved money in the period
            assert not con.execute(
                "SELECT count(*) FROM payments WHERE payer_account = ? OR payee_account = ?", [account, account]
            ).fetchone()[0]
        bank_of = {row["account_no"]: row["institution_code"] for row in accounts}
        for account, row in missed.items():
            assert row["institution_code"] == bank_of[account]
            assert row["how_reported"] == ("large_only" if row["large_lines"] else "not_reported")
            assert PERIOD.start <= row["first_flaggable"] <= PERIOD.end
        flagged_in_leads = {
            row["account_no"] for row in accounts if row["flagged"] == "true" and row["role"] in rules.suspect_roles
        }
        assert not flagged_in_leads & set(missed)
        for code, row in banks.items():
            assert row["missed_suspicious"] == sum(1 for m in missed.values() if m["institution_code"] == code)
    finally:
        con.close()
