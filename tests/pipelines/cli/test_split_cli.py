"""`fundflow leads split` as an outside tool calls it: the parts printed with Chinese labels and masked numbers,
`--json` for machines, and a refusal as one line naming the field."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cases import lifecycle
from pipelines.cases.store import CaseStore
from pipelines.cli import main
from pipelines.settings import Settings
from pipelines.warehouse import db as warehouse
from tests.conftest import REPO
from tests.pipelines.cases.test_publish import COLLECTOR, HUB, OTHER_HUB, build_warehouse
from tests.pipelines.cases.test_split import publish_merged_lead

REASON = "两个方案误合并 / two schemes merged"


@pytest.fixture(scope="module")
def merged_home(tmp_path_factory) -> tuple[Path, str]:
    """A home whose one lead holds two schemes (HUB's and OTHER_HUB's), as publishing before issue 14 left it;
    built once, each test works on a copy."""
    home = tmp_path_factory.mktemp("merged") / "home"
    settings = Settings.load(home)
    settings.ensure_folders()
    con = build_warehouse(warehouse.connect(settings))
    store = CaseStore.open(settings)
    try:
        store.add_user("ana", "analyst")
        lead_id = publish_merged_lead(settings, con, store)
        lifecycle.assign(store, lead_id, "ana", "ana", "初核")
    finally:
        store.close()
        con.close()
    return home, lead_id


@pytest.fixture
def home_and_lead(merged_home, tmp_path, monkeypatch) -> tuple[Path, str]:
    monkeypatch.delenv("FUNDFLOW_CASES_URL", raising=False)
    home = tmp_path / "home"
    shutil.copytree(merged_home[0], home)
    return home, merged_home[1]


def test_split_from_another_process_prints_the_parts_masked(home_and_lead):
    home, merged_lead = home_and_lead
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--home", str(home), "leads", "split", merged_lead]
        + ["--core", HUB, "--core", OTHER_HUB, "--reason", REASON, "--user", "ana"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    new_id = f"{merged_lead[:-6]}{int(merged_lead[-6:]) + 1:06d}"
    lines = done.stdout.splitlines()
    assert lines[0] == f"线索 {merged_lead} 已拆分为 2 条 / split into 2 leads"
    for label in ("线索编号", "拆分", "状态", "核心账户", "参与人数", "转入金额", "参与人亦见于"):
        assert label in lines[1]
    original = next(line for line in lines if line.strip().startswith(merged_lead))
    part = next(line for line in lines if line.strip().startswith(new_id))
    assert "保留原编号" in original and "初核" in original and "622202*********0018" in original and new_id in original
    assert "新拆出" in part and "初核" in part and "622848*********0042" in part and merged_lead in part
    assert not any(number in done.stdout for number in (HUB, OTHER_HUB, COLLECTOR))


def test_split_speaks_json_and_refuses_in_one_line_naming_the_field(capsys, home_and_lead):
    folder, merged_lead = home_and_lead
    home = ["--home", str(folder), "leads"]
    code = main(
        [*home, "split", merged_lead, "--core", HUB, "--core", "6222029999999999999"]
        + ["--reason", REASON, "--user", "ana"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "core (part 2)" in err and len(err.strip().splitlines()) == 1
    code = main([*home, "split", merged_lead, "--core", HUB, "--core", OTHER_HUB, "--user", "ana", "--json"])
    assert code == 1 and "reason: a reason is required" in capsys.readouterr().err
    argv = [*home, "split", merged_lead, "--core", f"{HUB},{COLLECTOR}", "--core", OTHER_HUB, "--user", "ana"]
    assert main([*argv, "--reason", REASON, "--json"]) == 0
    parts = json.loads(capsys.readouterr().out)
    assert [p["lead_id"] for p in parts][0] == merged_lead and len(parts) == 2
    assert parts[0]["hub_account"] == "622202*********0018" and parts[0]["split_into"] == [parts[1]["lead_id"]]
    assert parts[1]["split_from"] == merged_lead and parts[1]["assignee"] == "ana"
    assert parts[0]["also_in"] == [{"lead_id": parts[1]["lead_id"], "participants": 30}]
    code, out = main([*home, "show", parts[1]["lead_id"]]), capsys.readouterr().out
    assert code == 0 and f"拆分自：{merged_lead}  拆分为：无" in out
    earlier = out.split(f"拆分前的处理记录（线索 {merged_lead}）：")[1]
    assert "生成线索" in earlier and "新线索→初核" in earlier and f"拆分：{REASON}" in earlier
