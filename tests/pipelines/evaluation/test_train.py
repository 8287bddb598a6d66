import hashlib
import json
import random
from datetime import date, datetime

import pytest

from pipelines.cases import ranking
from pipelines.cases.publish import publish_run
from pipelines.cases.store import CaseStore, leads
from pipelines.cli import main
from pipelines.detection.runner import run_detection
from pipelines.evaluation import train
from pipelines.evaluation.truth import read_truth
from pipelines.warehouse import db as warehouse
from tests.builders import add_payments, day, pay

WINDOW_START, WINDOW_END = datetime(2025, 1, 1), datetime(2025, 4, 1)


def add_ring(con, ring_id, hub, members, score, typologies=("fan_in",), elderly_share=0.2, run_id="run1"):
    alert_id = f"al-{ring_id}"
    con.execute(
        "INSERT INTO alerts VALUES (?, ?, 'T1', '1', 'h', ?, 'account', ?, ?, ?, '{}', [], ?, 'zh', 'en', ?)",
        [alert_id, run_id, typologies[0], hub, WINDOW_START, WINDOW_END, score, WINDOW_END],
    )
    con.execute(
        "INSERT INTO rings VALUES (?, ?, ?, ?, [], [?], ?, ?, ?, 100000, 90000, 12, ?, ['33'], ?, [])",
        [ring_id, run_id, hub, members, alert_id, list(typologies), WINDOW_START, WINDOW_END, elderly_share, score],
    )


def build_rings(con, n=60, seed=3, separable=True, rules_informative=False) -> dict[str, int]:
    """n rings starting one day apart, about 40% of them schemes. With `separable`, schemes' payers are
    elderly and write 复投; with `rules_informative`, the rule score alone separates the classes."""
    rng = random.Random(seed)
    labels, rows = {}, []
    for i in range(n):
        label = int(rng.random() < 0.4)
        ring_id, hub = f"ring{i:03d}", f"HUB{i:03d}"
        for j in range(12):
            old = separable and label
            rows.append(
                pay(
                    f"P{i:03d}{j:02d}",
                    hub,
                    5000 + rng.randint(0, 40) * 100,
                    day(i + j * 0.5),
                    payer_birth=date(1950, 1, 1) if old else date(rng.randint(1950, 2000), 1, 1),
                    memo="复投" if old else None,
                )
            )
        rows.append(pay(hub, f"OUT{i:03d}", 50000, day(i + 7)))
        score = label + rng.random() * 0.5 if rules_informative else rng.random()
        add_ring(
            con,
            ring_id,
            hub,
            [hub, f"OUT{i:03d}"],
            round(score, 4),
            elderly_share=rng.random() if not separable else (0.9 if label else 0.2),
        )
        labels[ring_id] = label
    add_payments(con, rows)
    return labels


def write_truth(path, labels, participant_in_negatives=True):
    lines = ["account_no,scheme_id,typology,role"]
    for ring_id, label in labels.items():
        i = ring_id[4:]
        if label:
            lines.append(f"HUB{i},S{i},fan_in,hub")
        elif participant_in_negatives:
            lines.append(f"OUT{i},S999,fan_in,investor")  # a participant: does not make the ring a scheme
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def county(settings, **options) -> dict[str, int]:
    con = warehouse.connect(settings)
    try:
        return build_rings(con, **options)
    finally:
        con.close()


def add_closed_leads(settings, outcomes: dict[str, str]) -> None:
    """One lead per ring, moved along the given path, e.g. 'TRIAGE>CONSULTATION>DETERMINED_ILLEGAL>…>CLOSED'."""
    store = CaseStore.open(settings)
    try:
        with store.write() as conn:
            for n, (ring_id, path) in enumerate(outcomes.items(), start=1):
                lead_id = f"XS2025-{n:06d}"
                statuses = path.split(">")
                conn.execute(
                    leads.insert().values(
                        lead_id=lead_id,
                        ring_key=ring_id,
                        status=statuses[-1],
                        source="model",
                        total_in=0,
                        total_out=0,
                        individual_payers=0,
                        elderly_share=0,
                        provinces=[],
                        province_stats=[],
                        typologies=[],
                        rule_ids=[],
                        sectors=[],
                        keywords=[],
                        priority=[],
                        score=1.0,
                        narrative="",
                        reasons=[],
                        created_at=datetime(2025, 4, 1, 8),
                        updated_at=datetime(2025, 4, 1, 8),
                    )
                )
                previous = "NEW"
                for status in statuses:
                    store.append_event(conn, lead_id, "u", "move", "n", previous, status)
                    previous = status
    finally:
        store.close()


def model_files(settings):
    folder = settings.home / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "status, reached, expected",
    [
        ("DETERMINED_ILLEGAL", set(), 1),
        ("DISPOSITION", set(), 1),
        ("NOT_ILLEGAL", set(), 0),
        ("CLOSED", {"TRIAGE", "CONSULTATION", "DETERMINED_ILLEGAL", "DISPOSITION", "CLOSED"}, 1),
        ("CLOSED", {"TRIAGE", "DISPOSITION", "CLOSED"}, 1),
        ("CLOSED", {"TRIAGE", "CONSULTATION", "NOT_ILLEGAL", "CLOSED"}, 0),
        ("CLOSED", {"TRIAGE", "CLOSED"}, 0),  # excluded at triage
        ("TRIAGE", {"TRIAGE"}, None),
        ("MERGED", {"MERGED"}, None),
    ],
)
def test_lead_labels_follow_the_decision(status, reached, expected):
    assert train.lead_label(status, reached) == expected


def test_no_closed_leads_refuses_and_rules_keep_ranking(settings):
    county(settings)
    with pytest.raises(train.TrainingRefusedError, match="没有已办结的线索.*the rules keep ranking"):
        train.train(settings)
    assert ranking.current_ranking(settings)["name"] == "rules"
    assert model_files(settings) == []


def test_too_few_closed_leads_refuses(settings):
    labels = county(settings)
    outcomes = {
        ring_id: "TRIAGE>CONSULTATION>DETERMINED_ILLEGAL" if label else "TRIAGE>CLOSED"
        for ring_id, label in list(labels.items())[:19]
    }
    outcomes["ring059"] = "TRIAGE"  # still open: not a label
    add_closed_leads(settings, outcomes)
    with pytest.raises(train.TrainingRefusedError, match=r"标签过少：19 条.*too few labels: 19 closed leads"):
        train.train(settings)
    current = ranking.current_ranking(settings)
    assert (current["name"], current["model_hash"]) == ("rules", None)
    assert ranking.model_hash(settings) is None and model_files(settings) == []


def test_one_class_refuses(settings):
    labels = county(settings)
    add_closed_leads(settings, {ring_id: "TRIAGE>CONSULTATION>NOT_ILLEGAL>CLOSED" for ring_id in labels})
    with pytest.raises(train.TrainingRefusedError, match="标签只有一类：0 个认定非法、60 个不构成"):
        train.train(settings)
    assert ranking.current_ranking(settings)["name"] == "rules" and model_files(settings) == []


def test_the_command_prints_the_refusal_in_one_line(settings, capsys):
    county(settings)
    assert main(["--home", str(settings.home), "train"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("错误 / error: 没有已办结的线索") and "Traceback" not in err


def test_model_that_beats_the_rules_ranks(settings, tmp_path):
    labels = county(settings, separable=True, rules_informative=False)
    card = train.train(settings, truth_path=str(write_truth(tmp_path / "accounts.csv", labels)))
    model, rules = card["figures"]["model"], card["figures"]["rules"]
    assert card["in_use"] and model["precision_at_k"] > rules["precision_at_k"]
    assert card["level"] == "account"  # each alerted account is an example: here the 60 hubs
    assert card["labels"]["all"] == {
        "examples": 60,
        "positive": sum(labels.values()),
        "negative": 60 - sum(labels.values()),
    }
    assert card["labels"]["train"]["examples"] == 42 and card["labels"]["test"]["examples"] == 18
    # the held-out leads are the later ones
    assert card["data_window"]["train"]["first_activity_to"] < card["data_window"]["test"]["first_activity_from"]
    assert {"keyword_share", "rule_score", "score_fan_in"} <= set(card["features"])
    stored = json.loads((settings.home / "models" / "current.json").read_text(encoding="utf-8"))
    assert stored == card
    assert hashlib.sha256((settings.home / "models" / card["model_file"]).read_bytes()).hexdigest() == card["sha256"]
    current = ranking.current_ranking(settings)
    assert current["name"] == "model" and current["model_hash"] == card["sha256"]
    assert "precision@10" in current["reason_zh"] and "beats" in current["reason_en"]
    assert ranking.model_hash(settings) == card["sha256"]

    con = warehouse.connect(settings)
    try:
        scores = ranking.rank_scores(con, settings, "run1")
    finally:
        con.close()
    assert set(scores) == set(labels)  # each ring takes its hub's score
    assert ranking.ranking_line(settings).startswith("排序 / ranking: 模型排序 model — 模型在后段的 precision@10")
    schemes = [scores[r] for r, label in labels.items() if label]
    others = [scores[r] for r, label in labels.items() if not label]
    assert min(schemes) > max(others)
    printed = train.report(card)
    assert printed.splitlines()[1].startswith("样本层级 / level: 预警账户级")
    model_row = next(line for line in printed.splitlines() if line.startswith("模型 / model"))
    assert model_row.split()[5] == f"{model['precision_at_k']:.2f}"  # label (3 words), precision, recall, P@k
    lines = printed.splitlines()
    assert lines[lines.index(model_row) + 1].startswith("规则 / rules") and "the model ranks" in printed


def test_model_that_does_not_beat_the_rules_stays_unused(settings, tmp_path):
    labels = county(settings, separable=False, rules_informative=True)
    card = train.train(settings, truth_path=str(write_truth(tmp_path / "accounts.csv", labels)))
    model, rules = card["figures"]["model"], card["figures"]["rules"]
    assert not card["in_use"] and model["precision_at_k"] <= rules["precision_at_k"]
    assert rules["precision"] == 1.0 and rules["recall"] == 1.0  # the rule score separates the classes
    current = ranking.current_ranking(settings)
    assert current["name"] == "rules" and current["model_hash"] is None
    assert "仍按规则排序" in current["reason_zh"] and current["figures"] == card["figures"]
    assert ranking.ranking_line(settings).startswith("排序 / ranking: 规则排序 rules — 模型在后段的")
    con = warehouse.connect(settings)
    try:
        assert ranking.rank_scores(con, settings, "run1") == {}
    finally:
        con.close()


def test_training_is_reproducible_and_a_changed_file_is_not_used(settings, tmp_path):
    labels = county(settings)
    truth = write_truth(tmp_path / "accounts.csv", labels)
    first = train.train(settings, truth_path=str(truth))
    second = train.train(settings, truth_path=str(truth))
    assert first["sha256"] == second["sha256"] and first["figures"] == second["figures"]
    (settings.home / "models" / second["model_file"]).write_bytes(b"tampered")
    current = ranking.current_ranking(settings)
    assert current["name"] == "rules" and "changed" in current["reason_en"]


def test_labels_from_closed_leads_train_through_the_ring_key(settings):
    labels = county(settings)
    add_closed_leads(
        settings,
        {
            ring_id: "TRIAGE>CONSULTATION>DETERMINED_ILLEGAL>DISPOSITION>CLOSED" if label else "TRIAGE>CLOSED"
            for ring_id, label in labels.items()
        },
    )
    card = train.train(settings)
    assert card["level"] == "ring" and "线索（团伙）级" in train.report(card)
    assert card["labels"]["source"] == {"kind": "case_store", "leads_without_ring": 0}
    assert card["labels"]["all"]["positive"] == sum(labels.values())
    assert card["in_use"]
    con = warehouse.connect(settings)
    try:
        scores = ranking.rank_scores(con, settings, "run1")
    finally:
        con.close()
    assert min(scores[r] for r, label in labels.items() if label) > max(
        scores[r] for r, label in labels.items() if not label
    )


def test_time_split_trains_on_what_was_seen_first():
    import polars as pl

    table = pl.DataFrame(
        {
            "account_no": [f"r{i}" for i in range(10)],
            "label": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0],
            # r0–r4 first seen by a later run, though their own activity began earlier
            "seen_on": [date(2025, 5, 1)] * 5 + [date(2025, 4, 1)] * 5,
            "first_activity": [datetime(2025, 1, 10 - i) for i in range(10)],
        }
    )
    train_part, test_part = train.time_split(table, train.ACCOUNT_LEVEL)
    assert train_part["account_no"].to_list() == ["r9", "r8", "r7", "r6", "r5", "r4", "r3"]
    assert test_part["account_no"].to_list() == ["r2", "r1", "r0"]
    with pytest.raises(train.TrainingRefusedError, match="后段（检验段）中没有认定非法的"):
        train.time_split(
            table.with_columns(
                pl.when(pl.col("account_no").is_in(["r0", "r1", "r2"]))
                .then(0)
                .otherwise(pl.col("label"))
                .alias("label")
            ),
            train.ACCOUNT_LEVEL,
        )


def test_participants_in_the_truth_file_do_not_label_a_ring(tmp_path):
    truth = read_truth(write_truth(tmp_path / "accounts.csv", {"ring001": 1, "ring002": 0}))
    assert {account.account_no: account.positive for account in truth.accounts} == {"HUB001": True, "OUT002": False}
    bad = tmp_path / "bad.csv"
    bad.write_text("account,x\n1,2\n", encoding="utf-8")
    with pytest.raises(train.FundflowError, match="account_no"):
        read_truth(bad)


def test_too_few_alerted_accounts_refuses_with_the_labels_file(settings, tmp_path):
    labels = county(settings, n=15)
    with pytest.raises(
        train.TrainingRefusedError,
        match=r"标签过少：15 个预警账户.*too few labels: 15 alerted accounts.*the rules keep ranking",
    ):
        train.train(settings, truth_path=str(write_truth(tmp_path / "accounts.csv", labels)))
    assert ranking.current_ranking(settings)["name"] == "rules" and model_files(settings) == []


def test_publishing_stores_the_models_score_beside_the_rule_score(settings, tmp_path):
    labels = county(settings, separable=True, rules_informative=False)
    con = warehouse.connect(settings)
    try:
        # a second rule (T3) and ¥600,000 in: enough for every ring to open a lead
        for ring_id in labels:
            con.execute(
                "INSERT INTO alerts VALUES (?, 'run1', 'T3', '1', 'h', 'interest_payout', 'account', ?, ?, "
                "?, '{}', [], 0.1, 'zh', 'en', ?)",
                [f"al3-{ring_id}", f"HUB{ring_id[4:]}", WINDOW_START, WINDOW_END, WINDOW_END],
            )
        con.execute("UPDATE rings SET total_in = 600000, alert_ids = list_append(alert_ids, 'al3-' || ring_id)")
        # publishing counts the money from the payments themselves (pipelines.cases.evidence), so pay it in
        add_payments(
            con, [pay(f"BIG{ring_id[4:]}", f"HUB{ring_id[4:]}", 600_000, day(int(ring_id[4:]))) for ring_id in labels]
        )
        publish_run(settings, con, "run1")  # the rules rank: no rank score
        store = CaseStore.open(settings)
        try:
            assert store.list_leads() and all(lead["rank_score"] is None for lead in store.list_leads())
            card = train.train(settings, truth_path=str(write_truth(tmp_path / "accounts.csv", labels)))
            publish_run(settings, con, "run1")
            scores = ranking.rank_scores(con, settings, "run1")
            found = store.list_leads()
        finally:
            store.close()
        # each detect run records the model that ranks its leads
        run_id = run_detection(settings, as_of=date(2025, 3, 31), con=con).run_id
        recorded = con.execute("SELECT model_hash FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    finally:
        con.close()
    assert card["in_use"] and recorded == card["sha256"]
    assert {lead["ring_key"]: lead["rank_score"] for lead in found} == {r: scores[r] for r in labels}
    assert [lead["rank_score"] for lead in found] == sorted(scores.values(), reverse=True)
    rule_scores = {lead["ring_key"]: lead["score"] for lead in found}
    assert all(rule_scores[r] < 1 for r in labels)  # the rule score stays the ring's own (build_rings: 0–1)
