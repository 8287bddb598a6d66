"""Ring-level backtest against a generated county's truth: did one ring catch each scheme's hub and most of its
collectors, and how many rings are not schemes at all?

Truth comes from `truth/accounts.csv` (account_no, scheme_id, typology, role) and, beside it, `schemes.csv`
(scheme kind). A ring counts as a scheme's when any of its own (non-investor) accounts plays a role other
than investor in that scheme.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from pipelines.errors import BadFileError, NotFoundError
from pipelines.evaluation.truth import read_truth
from pipelines.formatting import table_text

MOST = 0.5
"""A ring holds "most" collectors when it holds more than this share of them."""


def ring_results(
    con: duckdb.DuckDBPyConnection, truth_accounts_csv_path: str | Path, run_id: str | None = None
) -> tuple[list[dict], str]:
    """One row per scheme, plus a row per ring that matches no scheme; and the table printed for a person."""
    truth_file = read_truth(truth_accounts_csv_path)
    if not truth_file.by_scheme:
        raise BadFileError(
            truth_accounts_csv_path,
            "真实答案须有 scheme_id、role 列 / the truth file must name each account's scheme_id and role",
        )
    truth = [(a.account_no, a.scheme_id, a.typology, a.role) for a in truth_file.accounts]
    kinds = truth_file.scheme_kind
    run_id = run_id or _latest_run(con)
    members: dict[str, dict[str, str]] = defaultdict(dict)
    for ring_id, account, role in con.execute(
        "SELECT ring_id, account_no, role FROM ring_members WHERE run_id = ?", [run_id]
    ).fetchall():
        members[ring_id][account] = role
    hubs = dict(con.execute("SELECT ring_id, hub_account FROM rings WHERE run_id = ?", [run_id]).fetchall())
    schemes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for account, scheme_id, _, role in truth:
        schemes[scheme_id][role].add(account)
    rows: list[dict[str, Any]] = []
    for scheme_id in sorted(schemes):
        roles = schemes[scheme_id]
        hub = next(iter(roles["hub"]), None)
        collectors = roles["collector"]
        best = None
        for ring_id, ring in members.items():
            own = {account for account, role in ring.items() if role != "investor"}
            held = len(collectors & own)
            score = (hub in own, held)
            if best is None or score > best[0]:
                best = (score, ring_id)
        (hub_held, held), ring_id = best if best else ((False, 0), None)
        found = hub_held and (not collectors or held > MOST * len(collectors))
        rows.append(
            {
                "scheme_id": scheme_id,
                "kind": kinds.get(scheme_id, ""),
                "found": found,
                "hub_in_ring": hub_held,
                "collectors": len(collectors),
                "collectors_in_ring": held,
                "ring_id": ring_id if (hub_held or held) else None,
                "ring_hub_is_scheme_hub": bool(ring_id and hubs.get(ring_id) == hub),
            }
        )
    hub_rings: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["hub_in_ring"]:
            hub_rings[row["ring_id"]].add(row["scheme_id"])
    for row in rows:
        # A ring holding several schemes' hubs hands the office one lead for several schemes.
        row["ring_shared_with"] = sorted(hub_rings.get(row["ring_id"], set()) - {row["scheme_id"]})
    scheme_accounts = {account for account, _, _, role in truth if role != "investor"}
    stray = sorted(
        ring_id
        for ring_id, ring in members.items()
        if not {a for a, role in ring.items() if role != "investor"} & scheme_accounts
    )
    for ring_id in stray:
        rows.append(
            {
                "scheme_id": None,
                "kind": "",
                "found": False,
                "hub_in_ring": False,
                "collectors": 0,
                "collectors_in_ring": 0,
                "ring_id": ring_id,
                "ring_hub_is_scheme_hub": False,
                "ring_shared_with": [],
            }
        )
    return rows, _table(rows, len(members), run_id)


def _table(rows: list[dict], n_rings: int, run_id: str) -> str:
    schemes = [row for row in rows if row["scheme_id"]]
    headers = [
        "集资模型 scheme",
        "类型 kind",
        "枢纽在环 hub",
        "归集账户 collectors",
        "命中 found",
        "同环的其他模型 shares ring with",
    ]
    table = [
        [
            row["scheme_id"],
            row["kind"],
            "是 yes" if row["hub_in_ring"] else "否 no",
            f"{row['collectors_in_ring']} / {row['collectors']}",
            "是 yes" if row["found"] else "否 no",
            ", ".join(row["ring_shared_with"]) or "-",
        ]
        for row in schemes
    ]
    lines = [f"环级回测 / ring-level backtest (run {run_id})", table_text(headers, table)]
    found = sum(row["found"] for row in schemes)
    not_schemes = sum(1 for row in rows if not row["scheme_id"])
    lines.append(
        f"命中 {found} / {len(schemes)} 个集资模型；共 {n_rings} 个环，其中 {not_schemes} 个不是集资模型 / "
        f"found {found} of {len(schemes)} schemes; {n_rings} rings, {not_schemes} not schemes"
    )
    return "\n".join(lines)


def _latest_run(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("""
        SELECT run_id FROM runs WHERE kind = 'detect' AND status = 'ok' ORDER BY started_at DESC LIMIT 1
    """).fetchone()
    if row is None:
        raise NotFoundError("还没有成功的检测运行 / no successful detection run yet: run fundflow detect first")
    return row[0]
