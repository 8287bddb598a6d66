"""T9 one controller, many accounts (一人多户/多户同控): several accounts at several banks behind one actor
(same ID, legal representative, agent, phone, device or IP), moving money among themselves or together taking
it from many individuals.

Schemes spread collection over accounts opened in several banks by one person or a front, so no single bank
sees the whole flow. Someone with accounts at two banks who moves savings between them stays far below the
amount threshold. Reads the actors built by `pipelines/actors.py` before the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window
from pipelines.vocabulary import CONTROL_LINKS

TYPOLOGY = "controlled_accounts"
STAGE = "sweep"
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    min_accounts: int = 5
    """Accounts behind one actor (accounts)."""
    min_institutions: int = 2
    """Institutions those accounts are held at (institutions)."""
    min_inflow_cny: float = 500_000
    """Money paid into the group from outside it in the window (yuan)."""
    min_joint_payers: int = 30
    """Distinct individuals paying into the group, taken together: T1 jointly (persons)."""
    min_internal_payments: int = 3
    """Payments between the group's own accounts for it to count as trading with itself (payments)."""
    min_internal_share: float = 0.3
    """Money moved among the group's accounts as a share of what came in from outside (fraction)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        links_zh = "、".join(CONTROL_LINKS.get(r, (r, r))[0] for r in row["link_reasons"]) or "同一证件"
        links_en = ", ".join(CONTROL_LINKS.get(r, (r, r))[1] for r in row["link_reasons"]) or "same ID"
        inflow, internal = float(row["outside_inflow_cny"]), float(row["internal_flow_cny"])
        reason_zh = (
            f"同一控制人（关联：{links_zh}）在 {row['n_institutions']} 家机构有 {row['n_accounts']} 个账户，"
            f"{row['individual_payers']} 名个人合计转入 {sweep.cny(inflow)}，账户间互转 {sweep.cny(internal)}"
        )
        reason_en = (
            f"one controller ({links_en}) holds {row['n_accounts']} accounts at {row['n_institutions']} "
            f"institutions; {row['individual_payers']} individuals paid in {sweep.cny(inflow)}, "
            f"{sweep.cny(internal)} moved between the accounts"
        )
        ratios = [
            sweep.past(row["n_accounts"], params.min_accounts),
            sweep.past(inflow, params.min_inflow_cny),
            max(
                sweep.past(row["individual_payers"], params.min_joint_payers),
                sweep.past(internal, params.min_internal_share * inflow),
            ),
        ]
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="actor",
                subject=row["actor"],
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "n_accounts": row["n_accounts"],
                    "n_institutions": row["n_institutions"],
                    "link_reasons": list(row["link_reasons"]),
                    "outside_inflow_cny": round(inflow, 2),
                    "internal_flow_cny": round(internal, 2),
                    "internal_payments": row["internal_payments"],
                    "individual_payers": row["individual_payers"],
                },
                evidence=tuple(row["evidence"] or ()),
                strength=sweep.strength(*ratios),
                reason_zh=reason_zh,
                reason_en=reason_en,
                accounts=tuple(row["accounts"]),
            )
        )
    return alerts
