"""Publishing rings into leads: one lead per scheme, reruns add nothing, new activity lands on the open lead,
a closed lead with new activity is linked to a new one, and rings short of the opening condition stay out."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from detectors.pack import load_lead_policy
from pipelines.cases import lifecycle
from pipelines.cases.publish import opens_lead, priority_marks, publish_run
from pipelines.cases.store import CaseStore, events, lead_alerts, lead_payments, leads
from pipelines.warehouse import db as warehouse

POLICY = load_lead_policy(Path(__file__).resolve().parents[3] / "rules")
HUB = "6222020000000000018"
COLLECTOR = "6222020000000000026"
CASHER = "6222020000000000034"
OTHER_HUB = "6228480000000000042"
WINDOW = (datetime(2025, 2, 1), datetime(2025, 3, 31, 23, 59, 59))
TYPOLOGY_OF = {
    "T1": "fan_in",
    "T2": "pass_through",
    "T3": "interest_payout",
    "T6": "elderly_payers",
    "T11": "cash_out",
    "G5": "gather_scatter",
    "T8": "night_activity",
    "T4": "round_amounts",
    "T5": "memo_keywords",
    "T7": "dormant_burst",
    "G1": "fan_in",
    "G2": "fan_out",
    "A1": "anomaly",
    "T14": "near_threshold",
}
PAYMENT_SQL = """INSERT INTO payments (payment_id, match_method, txn_time, amount_cny, payer_account, payer_name,
    payer_id_no, payer_kind, payer_birth, payer_region, payee_account, payee_name, payee_kind, payee_region,
    method, is_cash, memo) VALUES """
PAYMENT_ROW = "(?, 'one_leg', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def build_warehouse(con=None):
    """The test's parties, in `con` (a home's warehouse) or a new in-memory warehouse."""
    con = con or warehouse.connect_memory()
    con.executemany(
        "INSERT INTO parties (account_no, institution_code, holder_name, holder_id_no, holder_kind, "
        "holder_region) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (HUB, "B001", "康乐养老服务有限公司", "91330782MA2ABCDE1X", "ORG", "330782"),
            (COLLECTOR, "B002", "张小明", "330782198501011234", "PERSON", "330782"),
            (CASHER, "B002", "李四", "330782198603031236", "PERSON", "330782"),
            (OTHER_HUB, "B003", "惠民农业专业合作社", "93330782MA2FGHIJ2Y", "ORG", "330782"),
        ],
    )
    return con


def seed_payments(
    con,
    hub: str = HUB,
    first: int = 0,
    payers: int = 40,
    day: datetime = datetime(2025, 3, 1),
    amount: int = 20_000,
    memo: str = "养老公寓认购",
) -> None:
    """`payers` people (every 2nd aged 60+, every 4th from Jiangsu) pay `hub`; it forwards, cashes out, repays."""
    rows = []
    for i in range(first, first + payers):
        elderly = i % 2 == 0
        region = "320102" if i % 4 == 0 else "330782"
        id_no = f"{region}{1950 if elderly else 1985}0101{i:04d}"
        rows.append(
            (
                f"{hub[-4:]}-in-{i}",
                day + timedelta(minutes=i),
                amount,
                f"62170000{i:011d}",
                f"参与人{i}",
                id_no,
                "PERSON",
                datetime(1950 if elderly else 1985, 1, 1),
                region,
                hub,
                "康乐",
                "ORG",
                "330782",
                "TRANSFER",
                False,
                memo,
            )
        )
    inflow = payers * amount
    rows.append(
        (
            f"{hub[-4:]}-fwd-{first}",
            day + timedelta(hours=2),
            inflow * 0.6,
            hub,
            "康乐",
            None,
            "ORG",
            None,
            "330782",
            COLLECTOR,
            "张小明",
            "PERSON",
            "330782",
            "TRANSFER",
            False,
            "货款",
        )
    )
    rows.append(
        (
            f"{hub[-4:]}-cash-{first}",
            day + timedelta(hours=5),
            inflow * 0.5,
            COLLECTOR,
            "张小明",
            None,
            "PERSON",
            None,
            "330782",
            None,
            None,
            None,
            None,
            "CASH",
            True,
            None,
        )
    )
    for i in range(first, first + 12):
        rows.append(
            (
                f"{hub[-4:]}-back-{i}",
                day + timedelta(days=3, minutes=i),
                600,
                hub,
                "康乐",
                None,
                "ORG",
                None,
                "330782",
                f"62170000{i:011d}",
                f"参与人{i}",
                "PERSON",
                "330782",
                "TRANSFER",
                False,
                "收益",
            )
        )
    # One statement: DuckDB's executemany goes row by row and is slow.
    con.execute(PAYMENT_SQL + ", ".join([PAYMENT_ROW] * len(rows)), [value for row in rows for value in row])


def add_ring(
    con,
    run_id: str,
    hub: str = HUB,
    members: tuple[str, ...] = (HUB, COLLECTOR, CASHER),
    rules: tuple[str, ...] = ("T1", "T6", "T11"),
    window=WINDOW,
    score: float = 0.9,
) -> str:
    """One ring of `run_id` around `hub`, its alerts, and figures computed from the payments as detection would."""
    ring_id = hashlib.md5(hub.encode()).hexdigest()
    evidence = [
        r[0]
        for r in con.execute(
            "SELECT payment_id FROM payments WHERE (payee_account = ? OR payer_account = ?) AND txn_time BETWEEN ? AND ? "
            "ORDER BY payment_id",
            [hub, hub, *window],
        ).fetchall()
    ]
    alert_ids = []
    for rule in rules:
        alert_id = f"{run_id}-{rule}-{hub[-4:]}"
        alert_ids.append(alert_id)
        con.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, '1', 'h', ?, 'account', ?, ?, ?, '{\"n\": 1}', ?, 0.8, ?, ?, now())",
            [
                alert_id,
                run_id,
                rule,
                TYPOLOGY_OF[rule],
                hub,
                *window,
                evidence[:5],
                f"{rule}：30 天内多名个人转入",
                f"{rule}: many individuals paid in",
            ],
        )
    total_in, total_out, payers, elderly = con.execute(
        "SELECT sum(amount_cny) FILTER (WHERE payee_account = $hub),"
        " sum(amount_cny) FILTER (WHERE payer_account = $hub),"
        " count(DISTINCT payer_account) FILTER (WHERE payee_account = $hub AND payer_kind = 'PERSON'),"
        " count(DISTINCT payer_account) FILTER (WHERE payee_account = $hub AND payer_kind = 'PERSON'"
        "   AND payer_birth <= DATE '1965-01-01')"
        " FROM payments WHERE txn_time BETWEEN $start AND $end",
        {"hub": hub, "start": window[0], "end": window[1]},
    ).fetchone()
    provinces = sorted(
        {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT substr(payer_region, 1, 2) FROM payments WHERE payee_account = ? AND payer_kind = 'PERSON'",
                [hub],
            ).fetchall()
        }
    )
    con.execute(
        "INSERT INTO rings VALUES (?, ?, ?, ?, [], ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ring_id,
            run_id,
            hub,
            list(members),
            alert_ids,
            sorted({TYPOLOGY_OF[r] for r in rules}),
            *window,
            total_in or 0,
            total_out or 0,
            payers,
            (elderly / payers) if payers else 0.0,
            provinces,
            score,
            evidence,
        ],
    )
    roles = {HUB: "hub", COLLECTOR: "collector", CASHER: "controller", OTHER_HUB: "hub"}
    rows = [(ring_id, run_id, account, "hub" if account == hub else roles[account]) for account in members]
    # the ring's participants are named too, as investors outside member_accounts (as detectors/rings.py does)
    payers = con.execute(
        "SELECT DISTINCT payer_account FROM payments WHERE payee_account = ? AND payer_kind = 'PERSON'", [hub]
    ).fetchall()
    rows += [(ring_id, run_id, payer, "investor") for (payer,) in payers]
    con.execute(
        "INSERT INTO ring_members VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(rows)),
        [value for row in rows for value in row],
    )
    return ring_id


@pytest.fixture
def store(settings):
    opened = CaseStore.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def scheme():
    con = build_warehouse()
    seed_payments(con)
    add_ring(con, "run1")
    yield con
    con.close()


def add_people(store: CaseStore) -> None:
    for name, role in (("ana", "analyst"), ("rev", "reviewer"), ("sup", "supervisor")):
        store.add_user(name, role)


def count(store: CaseStore, table) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_ring_becomes_one_lead_with_everything_an_analyst_needs(settings, store, scheme):
    result = publish_run(settings, scheme, "run1", store)
    assert (result.new, result.updated, result.linked, result.unchanged) == (1, 0, 0, 0)
    lead = store.get_lead(result.lead_ids[0])
    assert lead["lead_id"] == f"XS{datetime.now().year}-000001"
    assert lead["status"] == "NEW" and lead["source"] == "model"
    assert lead["total_in"] == Decimal(800_000) and lead["individual_payers"] == 40
    assert lead["elderly_share"] == pytest.approx(0.5)
    assert lead["provinces"] == ["32", "33"]
    assert set(lead["priority"]) == {"cross_province", "many_elderly"}
    assert "elderly_care" in lead["sectors"] and "养老" in lead["keywords"]
    assert lead["rule_ids"] == ["T1", "T11", "T6"]
    # the alerts' reasons first, then the look-alike rules' (rules/lookalikes.yaml): a fixed-rate payout here
    # (equal scores in the pack's order: T6 before T11)
    assert [r["rule_id"] for r in lead["reasons"]] == ["T1", "T6", "T11", "LS1"]
    assert lead["subject_name"] == "康乐养老服务有限公司"
    roles = {a["account_no"]: a["role"] for a in lead["accounts"]}
    assert {account: role for account, role in roles.items() if role != "investor"} == {
        HUB: "hub",
        COLLECTOR: "collector",
        CASHER: "controller",
    }
    assert list(roles.values()).count("investor") == 40
    hub_row = next(a for a in lead["accounts"] if a["role"] == "hub")
    assert hub_row["total_in"] == Decimal(800_000) and hub_row["institution"] == "B001"
    first_payer = next(a for a in lead["accounts"] if a["account_no"] == "6217000000000000000")
    assert (first_payer["total_out"], first_payer["total_in"]) == (Decimal(20_000), Decimal(600))
    # the ring's evidence (40 in, 1 forwarded, 12 paid back) and, now that evidence covers money out, the cash out
    assert len(lead["payments"]) == 40 + 1 + 12 + 1 and len(lead["alerts"]) == 3
    by_province = {p["province"]: p["participants"] for p in lead["province_stats"]["by_province"]}
    assert by_province == {"32": 10, "33": 30} and lead["province_stats"]["local_participants"] == 30
    assert [e["action"] for e in lead["events"]] == ["created"]
    assert store.verify_events().ok


def test_the_narrative_tells_the_money_flow_with_masked_numbers(settings, store, scheme):
    lead = store.get_lead(publish_run(settings, scheme, "run1", store).lead_ids[0])
    text = lead["narrative"]
    assert "¥800,000 来自 40 名个人（其中 50% 年满 60 岁）" in text
    assert "622202*********0018（康乐养老服务有限公司）" in text
    assert "通常 2 小时内分转 622202*********0026" in text
    assert "张*明）取现 ¥400,000" in text
    assert "向 12 名参与人返还 ¥7,200" in text
    for number in (HUB, COLLECTOR, CASHER):
        assert number not in text


def test_publishing_the_same_run_twice_changes_nothing(settings, store, scheme):
    first = publish_run(settings, scheme, "run1", store)
    n_events, n_alerts = count(store, events), count(store, lead_alerts)
    again = publish_run(settings, scheme, "run1", store)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
    assert again.lead_ids == first.lead_ids
    assert (count(store, leads), count(store, events), count(store, lead_alerts)) == (1, n_events, n_alerts)


def test_detecting_again_over_the_same_data_leaves_the_same_leads(settings, store, scheme):
    publish_run(settings, scheme, "run1", store)
    n_events = count(store, events)
    add_ring(scheme, "run2")  # a new run id, new alert ids, the same findings
    result = publish_run(settings, scheme, "run2", store)
    assert (result.new, result.updated, result.unchanged) == (0, 0, 1)
    assert count(store, leads) == 1 and count(store, events) == n_events


def test_new_activity_is_added_to_the_open_lead_and_leaves_the_analysts_work_alone(settings, store, scheme):
    add_people(store)
    lead_id = publish_run(settings, scheme, "run1", store).lead_ids[0]
    lifecycle.assign(store, lead_id, "ana", "sup", "分配初核")
    seed_payments(scheme, first=40, payers=20, day=datetime(2025, 3, 20))
    add_ring(scheme, "run2", rules=("T1", "T6", "T11", "T2"))
    result = publish_run(settings, scheme, "run2", store)
    assert (result.new, result.updated) == (0, 1) and result.lead_ids == (lead_id,)
    lead = store.get_lead(lead_id)
    assert lead["status"] == "TRIAGE" and lead["assignee"] == "ana"
    assert lead["total_in"] == Decimal(1_200_000) and lead["individual_payers"] == 60
    assert "T2" in lead["rule_ids"] and len(lead["alerts"]) == 4
    assert len(lead["payments"]) == (40 + 1 + 12 + 1) + (20 + 1 + 12 + 1)  # each run adds its cash-out too
    activity = lead["events"][-1]
    assert activity["action"] == "new_activity" and activity["user"] == "system"
    assert (activity["from_status"], activity["to_status"]) == ("TRIAGE", "TRIAGE")
    assert activity["detail"]["new_alerts"] == ["T2"]
    assert "新增预警 1 条" in activity["note"] and "¥800,000 → ¥1,200,000" in activity["note"]
    assert [(r["run_id"], r["activity"]) for r in lead["runs"]] == [("run1", "new"), ("run2", "update")]
    assert store.verify_events().ok


@pytest.mark.parametrize("collector_alert_id", ["0-sorts-first", "z-sorts-last"])
def test_the_reason_shown_among_equal_scores_depends_on_the_data_not_the_alert_ids(
    settings, store, scheme, collector_alert_id
):
    # Issue 14: alert ids hash the run id, so another detect over the same data orders them differently. A second
    # T1 alert of the same score and evidence on the collector: the hub's own line is shown whichever id sorts first.
    evidence = scheme.execute("SELECT evidence FROM alerts WHERE alert_id = 'run1-T1-0018'").fetchone()[0]
    scheme.execute(
        "INSERT INTO alerts VALUES (?, 'run1', 'T1', '1', 'h', 'fan_in', 'account', ?, ?, ?, '{}', ?, 0.8, "
        "'T1：归集账户多人转入', 'T1: the collector', now())",
        [collector_alert_id, COLLECTOR, *WINDOW, evidence],
    )
    scheme.execute("UPDATE rings SET alert_ids = list_append(alert_ids, ?)", [collector_alert_id])
    lead = store.get_lead(publish_run(settings, scheme, "run1", store).lead_ids[0])
    assert {a["alert_id"] for a in lead["alerts"]} >= {collector_alert_id, "run1-T1-0018"}
    shown = {r["rule_id"]: r["en"] for r in lead["reasons"]}
    assert shown["T1"] == "T1: many individuals paid in"


def test_a_ring_holding_an_open_leads_hub_in_its_core_joins_it_instead_of_opening_a_twin(settings, store, scheme):
    lead_id = publish_run(settings, scheme, "run1", store).lead_ids[0]
    seed_payments(scheme, hub=OTHER_HUB, payers=40, memo="合作社入股分红")
    add_ring(scheme, "run2", hub=OTHER_HUB, members=(OTHER_HUB, HUB))  # the first lead's hub is in its core
    result = publish_run(settings, scheme, "run2", store)
    assert (result.new, result.updated) == (0, 1) and result.lead_ids == (lead_id,)
    lead = store.get_lead(lead_id)
    assert OTHER_HUB in {a["account_no"] for a in lead["accounts"]}
    assert set(lead["sectors"]) >= {"elderly_care", "agriculture"}
    assert count(store, leads) == 1


def test_two_schemes_sharing_participants_and_a_cash_out_account_are_two_leads_each_also_in_the_other(
    settings, store, scheme
):
    # Until issue 14 any shared non-participant account joined the ring to the open lead; a shared cash-out
    # account is a third party, and two hubs with their own participants are two schemes.
    # Issue 14, done-when 2: the two schemes share 30 participants (people 10–39) and the cash-out account.
    first = publish_run(settings, scheme, "run1", store).lead_ids[0]
    seed_payments(scheme, hub=OTHER_HUB, first=10, payers=40, memo="合作社入股分红")
    add_ring(scheme, "run2", hub=OTHER_HUB, members=(OTHER_HUB, COLLECTOR))
    result = publish_run(settings, scheme, "run2", store)
    assert result.new == 1 and first not in result.lead_ids and count(store, leads) == 2
    second = result.lead_ids[0]
    one, other = store.get_lead(first), store.get_lead(second)
    assert (one["hub_account"], other["hub_account"]) == (HUB, OTHER_HUB)
    assert one["also_in"] == [{"lead_id": second, "participants": 30}]
    assert other["also_in"] == [{"lead_id": first, "participants": 30}]
    assert COLLECTOR in {a["account_no"] for a in one["accounts"]} & {a["account_no"] for a in other["accounts"]}


def test_a_weak_ring_joins_the_lead_a_later_ring_of_the_same_run_opens(settings, store, scheme):
    seed_payments(scheme, hub=OTHER_HUB, payers=10)
    # the weak ring's core holds the strong ring's hub (money core to core), so it continues that lead
    add_ring(scheme, "run1", hub=OTHER_HUB, members=(OTHER_HUB, HUB), rules=("T6", "T8"), score=5.0)
    result = publish_run(settings, scheme, "run1", store)
    assert (result.new, result.updated, result.skipped) == (1, 1, 0)
    assert OTHER_HUB in {a["account_no"] for a in store.get_lead(result.lead_ids[0])["accounts"]}
    again = publish_run(settings, scheme, "run1", store)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)


def test_schemes_sharing_only_a_participant_stay_two_leads(settings, store, scheme):
    seed_payments(scheme, hub=OTHER_HUB, payers=40)  # the same 40 people also pay a second, unrelated hub
    add_ring(scheme, "run1", hub=OTHER_HUB, members=(OTHER_HUB,))
    result = publish_run(settings, scheme, "run1", store)
    assert result.new == 2 and count(store, leads) == 2


def test_a_closed_lead_with_new_activity_is_linked_to_a_new_lead(settings, store, scheme):
    add_people(store)
    old_id = publish_run(settings, scheme, "run1", store).lead_ids[0]
    lifecycle.assign(store, old_id, "ana", "ana", "初核")
    lifecycle.propose_close(store, old_id, "ana", "正常经营，排除")
    lifecycle.confirm_close(store, old_id, "rev", "同意排除")
    seed_payments(scheme, first=40, payers=20, day=datetime(2025, 3, 20))
    add_ring(scheme, "run2", rules=("T1", "T6", "T2"))
    result = publish_run(settings, scheme, "run2", store)
    assert (result.new, result.linked, result.updated) == (0, 1, 0)
    new = store.get_lead(result.lead_ids[0])
    assert new["lead_id"] != old_id and new["related_lead_id"] == old_id and new["status"] == "NEW"
    assert new["runs"][0]["activity"] == "reopen-link"
    old = store.get_lead(old_id)
    assert old["status"] == "CLOSED"
    assert old["events"][-1]["action"] == "new_activity_linked" and new["lead_id"] in old["events"][-1]["note"]
    # the next run continues the new lead, not a third one
    add_ring(scheme, "run3", rules=("T1", "T6", "T2", "T11"))
    again = publish_run(settings, scheme, "run3", store)
    assert again.lead_ids == (new["lead_id"],) and count(store, leads) == 2


def test_activity_on_a_merged_lead_goes_to_the_lead_it_was_merged_into(settings, store, scheme):
    add_people(store)
    seed_payments(scheme, hub=OTHER_HUB, payers=40)
    add_ring(scheme, "run1", hub=OTHER_HUB, members=(OTHER_HUB,))
    first, second = publish_run(settings, scheme, "run1", store).lead_ids
    duplicate, kept = sorted([first, second], key=lambda i: store.get_lead(i)["hub_account"] == HUB)
    lifecycle.move(store, duplicate, "MERGED", "ana", "同一控制人", merge_into=kept)
    add_ring(
        scheme,
        "run2",
        hub=store.get_lead(duplicate)["hub_account"],
        members=(store.get_lead(duplicate)["hub_account"],),
        rules=("T1", "T6", "T8"),
    )
    result = publish_run(settings, scheme, "run2", store)
    assert result.lead_ids == (kept,) and result.updated == 1 and count(store, leads) == 2


@pytest.mark.parametrize(
    "rules, amount_payers, opens",
    [
        (("T1", "T6"), 40, True),  # golden: a core rule, another hit, ¥800,000
        (("T6", "T11"), 40, False),  # near miss: no core rule (T1/T2/T3/G5)
        (("T1",), 40, False),  # near miss: a core rule alone
        (("T2", "T3"), 40, True),  # two core rules count as a core rule plus another hit
        (("T1", "T6"), 24, False),  # near miss: ¥480,000 < ¥500,000
        (("T1", "T6"), 25, True),  # exactly ¥500,000
    ],
)
def test_only_rings_meeting_the_opening_condition_become_leads(settings, store, rules, amount_payers, opens):
    con = build_warehouse()
    seed_payments(con, payers=amount_payers)
    add_ring(con, "run1", rules=rules)
    result = publish_run(settings, con, "run1", store)
    assert (result.new, result.skipped) == ((1, 0) if opens else (0, 1))
    assert opens_lead(set(rules), Decimal(amount_payers * 20_000), POLICY) is opens


def test_priority_marks_and_their_near_misses():
    assert priority_marks(Decimal(100_000_000), ["33"], 5, 0.0, POLICY) == ["major_amount"]
    assert priority_marks(Decimal("99999999.99"), ["33"], 5, 0.0, POLICY) == []
    assert priority_marks(Decimal(1), ["33", "32"], 5, 0.0, POLICY) == ["cross_province"]
    assert priority_marks(Decimal(1), ["33"], 100, 0.30, POLICY) == ["many_elderly"]  # 30 aged 60+
    assert priority_marks(Decimal(1), ["33"], 100, 0.29, POLICY) == []  # 29
    assert priority_marks(Decimal(1), ["33"], 10, 0.5, POLICY) == ["many_elderly"]  # half of 10
    assert priority_marks(Decimal(1), ["33"], 8, 0.5, POLICY) == []  # half of too few to say


def test_an_empty_run_publishes_nothing(settings, store):
    con = build_warehouse()
    result = publish_run(settings, con, "nothing", store)
    assert (result.new, result.updated, result.skipped, result.lead_ids) == (0, 0, 0, ())


def test_publish_keeps_json_columns_as_lists(settings, store, scheme):
    publish_run(settings, scheme, "run1", store)
    with store.engine.connect() as conn:
        # as the database holds them, as text (PostgreSQL's driver would parse a JSON column itself)
        raw = conn.execute(sa.text("SELECT CAST(provinces AS TEXT), CAST(reasons AS TEXT) FROM leads")).one()
    assert json.loads(raw[0]) == ["32", "33"] and json.loads(raw[1])[0]["rule_id"] == "T1"
    assert count(store, lead_payments) == 54


def test_a_ponzis_lead_holds_its_money_out_and_every_view_shows_the_same_totals(settings, store):
    # Issue 14, done-when 3: a planted Ponzi pays participants back, cashes out and pays its controller.
    from console.views import queue_row
    from pipelines.cases.timeline import lead_timeline
    from reports.leads_export import lead_row

    con = build_warehouse()
    seed_payments(con)
    to_controller = ("ctl-1", datetime(2025, 3, 2), 150_000, HUB, "康乐", None, "ORG", None, "330782", CASHER)
    con.execute(
        PAYMENT_SQL + PAYMENT_ROW,
        [*to_controller, "李四", "PERSON", "330782", "TRANSFER", False, "借款"],
    )
    add_ring(con, "run1")
    lead = store.get_lead(publish_run(settings, con, "run1", store).lead_ids[0])
    kinds = {payment["flow"] for payment in lead["payments"]}
    assert {"in_participant", "payout", "cash_out", "to_controller"} <= kinds
    assert "ctl-1" in {payment["payment_id"] for payment in lead["payments"]}
    outflow = sum(day["outflow"] for day in lead_timeline(lead))
    assert outflow == 12 * 600 + 400_000 + 150_000 == float(lead["total_out"])
    assert f"流出合计 ¥{outflow:,.0f}" in lead["narrative"] and "转给实际控制人 ¥150,000" in lead["narrative"]
    assert sum(day["inflow"] for day in lead_timeline(lead)) == float(lead["total_in"]) == 800_000
    row = queue_row(lead, datetime(2025, 4, 1).date())
    exported = lead_row(lead, lead["accounts"], 0, {}, False, datetime(2025, 4, 1).date())
    assert row["total_in"] == float(exported["total_in"]) == float(lead["total_in"])
    assert row["total_out"] == float(exported["total_out"]) == outflow
    assert lead["figures"]["flows"]["payout"]["count"] == 12 and lead["figures"]["participants"] == 40


@pytest.mark.parametrize(
    "rules, opens",
    [
        (("T4", "T5", "T6", "T7"), True),  # no opening rule, but four fundraising rules: a small scheme
        (("T4", "T5", "T6"), False),  # near miss: three
        (("T4", "T5", "T6", "G1", "G2", "A1"), False),  # shapes and the anomaly score do not count
    ],
)
def test_many_fundraising_rules_open_a_lead_without_an_opening_rule(rules, opens):
    assert opens_lead(set(rules), Decimal(800_000), POLICY) is opens
    assert opens_lead(set(rules), Decimal(499_999), POLICY) is False  # the amount still holds


@pytest.mark.parametrize(
    "rules, payers, opens",
    [
        (("T14", "T5", "T11"), 15, True),  # a "blockchain" scheme: 15 investors, ¥2M each, under the thresholds
        (("T14", "T5", "T11"), 9, False),  # near miss: too few individuals to be the public
    ],
)
def test_three_fundraising_rules_open_a_lead_when_the_public_pays_in(settings, store, rules, payers, opens):
    # 社会性: money from many unrelated individuals makes it fundraising from the public; one rule fewer will do.
    con = build_warehouse()
    seed_payments(con, payers=payers, amount=100_000)
    add_ring(con, "run1", rules=rules)
    result = publish_run(settings, con, "run1", store)
    assert (result.new, result.skipped) == ((1, 0) if opens else (0, 1))
    assert opens_lead(set(rules), Decimal(payers * 100_000), POLICY, payers) is opens
    assert opens_lead(set(rules), Decimal(499_999), POLICY, payers) is False  # the amount still holds


def test_a_scheme_split_from_a_group_opens_with_its_siblings_hits_and_money(settings, store, scheme):
    # Issue 14: after the split a part below the opening rule (one rule, ¥200,000) no longer hides inside its
    # sibling's lead, nor is it lost: it opens a lead of its own on the group's hits and money, and says so.
    seed_payments(scheme, hub=OTHER_HUB, first=100, payers=10)
    weak = add_ring(scheme, "run1", hub=OTHER_HUB, members=(OTHER_HUB,), rules=("T8",), score=0.3)
    strong = hashlib.md5(HUB.encode()).hexdigest()
    split = {"kind": "split", "hubs": 2, "shared": [], "group": "g1"}
    scheme.executemany(
        "INSERT INTO ring_notes VALUES (?, 'run1', 'split', ?)",
        [(strong, json.dumps(split)), (weak, json.dumps(split))],
    )
    result = publish_run(settings, scheme, "run1", store)
    assert (result.new, result.skipped) == (2, 0)
    by_hub = {lead["hub_account"]: lead for lead in (store.get_lead(i) for i in result.lead_ids)}
    assert [note["kind"] for note in by_hub[OTHER_HUB]["why"]] == ["split", "opened_with_group"]
    assert by_hub[OTHER_HUB]["why"][1]["rule_ids"] == ["T1", "T11", "T6", "T8"]
    assert [note["kind"] for note in by_hub[HUB]["why"]] == ["split"]
    assert by_hub[OTHER_HUB]["total_in"] == Decimal(200_000)  # its own money: the group only opened it
    again = publish_run(settings, scheme, "run1", store)
    assert (again.new, again.unchanged) == (0, 2)


class BoundParameters:
    """The warehouse connection, keeping every parameter value a query is given."""

    def __init__(self, con):
        self.con = con
        self.values: list = []
        self.queries = 0

    def execute(self, sql, parameters=None):
        self.queries += 1
        self.values += list(parameters.values() if isinstance(parameters, dict) else parameters or [])
        return self.con.execute(sql, parameters)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_publishing_binds_no_list_of_accounts_alerts_or_payments(settings, store, scheme):
    # Issue 16: DuckDB binding a Python list parameter tries to import pandas twice per element; publishing's
    # lists go through Arrow, so their length never shows in what it binds. A split group covers group_inflow.
    seed_payments(scheme, hub=OTHER_HUB, first=100, payers=10)
    weak = add_ring(scheme, "run1", hub=OTHER_HUB, members=(OTHER_HUB,), rules=("T8",), score=0.3)
    split = {"kind": "split", "hubs": 2, "shared": [], "group": "g1"}
    scheme.executemany(
        "INSERT INTO ring_notes VALUES (?, 'run1', 'split', ?)",
        [(hashlib.md5(HUB.encode()).hexdigest(), json.dumps(split)), (weak, json.dumps(split))],
    )
    recorder = BoundParameters(scheme)
    result = publish_run(settings, recorder, "run1", store)
    assert result.new == 2 and len(store.get_lead(result.lead_ids[0])["accounts"]) > 40
    assert recorder.values, "the recorder saw publishing's queries"
    assert not [value for value in recorder.values if isinstance(value, (list, tuple))]


def test_without_its_group_the_same_weak_ring_stays_out(settings, store, scheme):
    seed_payments(scheme, hub=OTHER_HUB, first=100, payers=10)
    add_ring(scheme, "run1", hub=OTHER_HUB, members=(OTHER_HUB,), rules=("T8",), score=0.3)
    result = publish_run(settings, scheme, "run1", store)
    assert (result.new, result.skipped) == (1, 1)


def test_a_collector_network_is_an_opening_rules_hit(settings, store):
    # Issue 14: collectors passing individuals' money to one account are T1's scatter-in, concentrate-out spread
    # over several accounts; with the collectors' T2 as the other hit, the receiving account's lead opens.
    con = build_warehouse()
    seed_payments(con)
    ring_id = add_ring(con, "run1", rules=("T2",))
    assert (publish_run(settings, con, "run1", store).skipped, count(store, leads)) == (1, 0)
    network = {"kind": "collector_network", "accounts": [COLLECTOR, CASHER], "participants": 40}
    con.execute("INSERT INTO ring_notes VALUES (?, 'run1', 'collector_network', ?)", [ring_id, json.dumps(network)])
    result = publish_run(settings, con, "run1", store)
    assert (result.new, result.skipped) == (1, 0)
    assert [note["kind"] for note in store.get_lead(result.lead_ids[0])["why"]] == ["collector_network"]
    assert opens_lead({"T2"}, Decimal(800_000), POLICY, 0, 2) is True
    assert opens_lead({"T2"}, Decimal(800_000), POLICY, 0, 1) is False  # one collector is no network
    assert opens_lead(set(), Decimal(800_000), POLICY, 0, 5) is False  # the network alone: no other hit
    assert opens_lead({"T2"}, Decimal(499_999), POLICY, 0, 2) is False  # the amount still holds


def test_structuring_into_the_core_by_several_payers_is_an_opening_rules_hit(settings, store):
    # Issue 14: T14 counting 3 counterparties structuring into the hub (people told to split their payments
    # under the reporting threshold) opens the lead with one more hit; T14 of one customer does not.
    con = build_warehouse()
    seed_payments(con)
    add_ring(con, "run1", rules=("T14", "G2"))
    con.execute("UPDATE alerts SET metrics = '{\"pairs\": 1}' WHERE rule_id = 'T14'")
    assert publish_run(settings, con, "run1", store).skipped == 1
    con.execute("UPDATE alerts SET metrics = '{\"pairs\": 3}' WHERE rule_id = 'T14'")
    assert publish_run(settings, con, "run1", store).new == 1
    assert opens_lead({"T14", "G2"}, Decimal(800_000), POLICY, structuring=3) is True
    assert opens_lead({"T14", "G2"}, Decimal(800_000), POLICY, structuring=2) is False
    assert opens_lead({"T14", "G2"}, Decimal(499_999), POLICY, structuring=3) is False  # the amount still holds


def test_the_controller_paying_in_is_no_participant_in_any_figure(settings, store):
    # One computation of the participants: the lead's count (pipelines.cases.evidence) and the provinces it is
    # broken down by (the campaign tables) leave out the ring's own controller paying money in.
    con = build_warehouse()
    seed_payments(con)
    from_controller = ("ctl-in", datetime(2025, 3, 1, 1), 100_000, CASHER, "李四", "330782198501019999", "PERSON")
    con.execute(
        PAYMENT_SQL + PAYMENT_ROW,
        [*from_controller, datetime(1985, 1, 1), "330782", HUB, "康乐", "ORG", "330782", "TRANSFER", False, "借款"],
    )
    add_ring(con, "run1")
    lead = store.get_lead(publish_run(settings, con, "run1", store).lead_ids[0])
    by_province = sum(row["participants"] for row in lead["province_stats"]["by_province"])
    assert lead["figures"]["participants"] == by_province == 40
    assert Decimal(lead["figures"]["flows"]["in_other"]["amount"]) == 100_000
