"""One vocabulary: the same lead reads the same in the terminal (`fundflow leads show`), the console's lead page
and the exports (leads XLSX, dossier HTML): its status, the events of its history, its accounts' roles and its
rules' titles."""

from __future__ import annotations

from openpyxl import load_workbook

from detectors.pack import load_rule_pack
from pipelines.cases.publish import publish_run
from pipelines.cli import main
from pipelines.vocabulary import ACCOUNT_ROLES, ACTION_LABELS, LEAD_STATUS
from reports.dossier import export_dossier
from reports.leads_export import export_leads
from tests.pipelines.cases.test_publish import add_ring, build_warehouse, seed_payments


def sheet_rows(path, title: str) -> list[dict]:
    """An exported sheet's rows keyed by column key (row 1: Chinese labels, row 2: keys)."""
    sheet = load_workbook(path, read_only=True)[title]
    rows = list(sheet.iter_rows(values_only=True))
    keys = rows[1]
    return [dict(zip(keys, row)) for row in rows[2:]]


def test_terminal_console_and_exports_use_the_same_words(settings, store, client_for, capsys, tmp_path):
    con = build_warehouse()
    seed_payments(con)
    add_ring(con, "run1")
    lead_id = publish_run(settings, con, "run1", store).lead_ids[0]
    con.close()
    home = ["--home", str(settings.home), "leads"]
    assert main([*home, "assign", lead_id, "analyst", "--user", "supervisor", "--note", "分配初核"]) == 0
    assert main([*home, "move", lead_id, "CONSULTATION", "--user", "analyst", "--note", "提请会商"]) == 0
    measure = ["measure", lead_id, "add", "警示约谈", "--due", "2030-01-31", "--user", "analyst", "--note", "约谈"]
    assert main([*home, *measure]) == 0
    capsys.readouterr()
    assert main([*home, "show", lead_id]) == 0
    terminal = capsys.readouterr().out
    console = client_for("analyst").get(f"/leads/{lead_id}").text
    workbook = tmp_path / "leads.xlsx"
    export_leads(settings, workbook, "analyst")
    dossier = tmp_path / "dossier.html"
    export_dossier(settings, lead_id, dossier, "analyst")
    dossier_text = dossier.read_text(encoding="utf-8")
    (lead_row,) = [row for row in sheet_rows(workbook, "线索清单") if row["lead_id"] == lead_id]
    account_rows = [row for row in sheet_rows(workbook, "涉及账户") if row["lead_id"] == lead_id]

    lead = store.get_lead(lead_id)
    status = LEAD_STATUS[lead["status"]]
    assert status == "会商研判"
    assert f"【{status}】" in terminal and f'id="lead-status">{status}<' in console
    assert lead_row["status"] == status and status in dossier_text

    actions = {event["action"] for event in lead["events"]}
    assert {"created", "move", "measure_add"} <= actions
    for action in actions:
        word = ACTION_LABELS[action]
        assert word in terminal and f"<td>{word}</td>" in console and word in dossier_text, action

    roles = {account["role"] for account in lead["accounts"]}
    assert {"hub", "investor"} <= roles
    assert {row["role_zh"] for row in account_rows} == {ACCOUNT_ROLES[role] for role in roles}
    for role in roles:
        assert ACCOUNT_ROLES[role] in terminal and ACCOUNT_ROLES[role] in console, role

    titles = {rule.rule_id: rule.title_zh for rule in load_rule_pack(settings.rules_dir).rules}
    for rule_id in lead["rule_ids"]:
        assert f"[{rule_id}] {titles[rule_id]}：" in terminal
        assert titles[rule_id] in console and f"{rule_id} {titles[rule_id]}" in lead_row["rule_hits"], rule_id
