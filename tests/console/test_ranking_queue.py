"""The queue follows the ranking in use: the model's rank score while the model ranks, else the rule score;
the console and `leads list` say which ranking that is and why."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from pipelines.cases.store import leads
from pipelines.cli import main
from tests.console.conftest import add_lead

SMALL, OTHER, BIG = "XS2025-000001", "XS2025-000002", "XS2025-000003"
MODEL_REASON = "模型在后段的 precision@10 为 0.90，高于规则排序的 0.60，启用模型排序"


@pytest.fixture
def ranked_leads(store):
    """Rule scores put SMALL first; the model puts BIG first and has not scored SMALL."""
    for lead_id, investors, score, rank_score in ((SMALL, 60, 0.9, None), (OTHER, 20, 0.7, 0.2), (BIG, 5, 0.5, 0.95)):
        add_lead(store, lead_id, investors, score=score)
        with store.write() as conn:
            conn.execute(leads.update().where(leads.c.lead_id == lead_id).values(rank_score=rank_score))


def put_model_in_use(settings, in_use: bool = True) -> None:
    folder = settings.home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ranker.joblib").write_bytes(b"a measured model")
    card = {
        "in_use": in_use,
        "level": "account",
        "model_file": "ranker.joblib",
        "sha256": hashlib.sha256(b"a measured model").hexdigest(),
        "reason_zh": MODEL_REASON,
        "reason_en": "the model's held-out precision@10 0.90 beats the rules' 0.60: the model ranks",
        "figures": {},
        "k": 10,
        "trained_at": "2025-06-01 08:00:00",
    }
    (folder / "current.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")


def listed(settings, capsys) -> tuple[str, list[str]]:
    assert main(["--home", str(settings.home), "leads", "list"]) == 0
    out = capsys.readouterr().out
    return out.splitlines()[0], re.findall(r"XS2025-\d{6}", out)


def test_without_a_model_the_rules_order_the_queue(ranked_leads, settings, store, client_for, capsys):
    assert [lead["lead_id"] for lead in store.list_leads()] == [SMALL, OTHER, BIG]
    line, order = listed(settings, capsys)
    assert (
        line == "排序 / ranking: 规则排序 rules — 尚未训练排序模型，按规则得分排序 / no ranking model has been "
        "trained: the rules rank"
    )
    assert order == [SMALL, OTHER, BIG]
    html = client_for("analyst").get("/").text
    assert "排序方式：规则排序——尚未训练排序模型" in html
    assert re.findall(r'<a href="/leads/(XS[\d-]+)">', html) == [SMALL, OTHER, BIG]


def test_a_model_in_use_orders_the_queue_by_its_score(ranked_leads, settings, store, client_for, capsys):
    put_model_in_use(settings)
    # the model's order; a lead it has not scored comes last; the rule score itself is untouched
    found = store.list_leads()
    assert [lead["lead_id"] for lead in found] == [BIG, OTHER, SMALL]
    assert [lead["score"] for lead in found] == [0.5, 0.7, 0.9]
    line, order = listed(settings, capsys)
    assert line.startswith(f"排序 / ranking: 模型排序 model — {MODEL_REASON}") and order == [BIG, OTHER, SMALL]
    client = client_for("analyst")
    html = client.get("/").text
    assert f"排序方式：模型排序——{MODEL_REASON}" in html
    assert re.findall(r'<a href="/leads/(XS[\d-]+)">', html) == [BIG, OTHER, SMALL]
    # a sort the analyst picks still applies
    assert re.findall(r'<a href="/leads/(XS[\d-]+)">', client.get("/?sort=participants").text) == [SMALL, OTHER, BIG]


def test_a_model_that_did_not_beat_the_rules_leaves_their_order(ranked_leads, settings, store):
    put_model_in_use(settings, in_use=False)
    assert [lead["lead_id"] for lead in store.list_leads()] == [SMALL, OTHER, BIG]
