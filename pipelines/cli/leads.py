"""`fundflow leads list|show|assign|move|measure|split|verify`: the lead queue from the terminal.

Tables carry Chinese headers and masked numbers; `--json` gives the same, masked, for machines.
"""

from __future__ import annotations

import json

from pipelines.cases import lifecycle, parts
from pipelines.cases.ranking import ranking_line
from pipelines.cases.sectors import sector_labels
from pipelines.cases.store import CaseStore, plain_json
from pipelines.errors import FundflowError
from pipelines.formatting import parse_date, printable, table_text, yuan
from pipelines.masking import mask_lead
from pipelines.settings import Settings
from pipelines.vocabulary import (
    ACCOUNT_ROLES,
    ACTION_LABELS,
    DISPOSITION_TYPES,
    LEAD_STATUS,
    MEASURE_STATUSES,
    PRIORITY_MARKS,
    SPLIT_PARTS,
    TYPOLOGIES,
)

LIST_COLUMNS = (
    ("lead_id", "线索编号"),
    ("status", "状态"),
    ("score", "评分"),
    ("individual_payers", "参与人数"),
    ("total_in", "转入金额"),
    ("typologies", "手法"),
    ("priority", "重点"),
    ("assignee", "承办人"),
)


def leads_command(args, settings: Settings) -> int:
    store = CaseStore.open(settings)
    try:
        return ACTIONS[args.action](store, args)
    finally:
        store.close()


def _need(rest: list[str], count: int, usage: str) -> list[str]:
    if len(rest) < count:
        raise FundflowError(f"参数不足 / missing arguments; 用法 / usage: fundflow leads {usage}")
    return rest


def status_code(text: str) -> str:
    """A status given as its code (any case) or its Chinese label."""
    if text.upper() in LEAD_STATUS:
        return text.upper()
    for code, label in LEAD_STATUS.items():
        if label == text:
            return code
    listed = "、".join(f"{code} {label}" for code, label in LEAD_STATUS.items())
    raise FundflowError(f"未知状态 / unknown status '{text}'; 可选 / one of: {listed}")


def _list(store: CaseStore, args) -> int:
    statuses = [status_code(s) for s in args.status.split(",")] if args.status else None
    found = store.list_leads(status=statuses)
    if args.json:
        print(
            json.dumps(
                plain_json([mask_lead(lead) | {"status_label": LEAD_STATUS[lead["status"]]} for lead in found]),
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    print(ranking_line(store.settings))
    if not found:
        print("没有线索 / no leads")
        return 0
    rows = [
        [
            lead["lead_id"],
            LEAD_STATUS[lead["status"]],
            f"{lead['score']:.2f}",
            str(lead["individual_payers"]),
            yuan(lead["total_in"]),
            "、".join(TYPOLOGIES.get(t, t) for t in lead["typologies"]),
            "、".join(PRIORITY_MARKS[p] for p in lead["priority"]),
            lead["assignee"] or "",
        ]
        for lead in found
    ]
    print(table_text([label for _, label in LIST_COLUMNS], rows))
    print(f"共 {len(found)} 条 / {len(found)} leads")
    return 0


def _show(store: CaseStore, args) -> int:
    (lead_id,) = _need(args.rest, 1, "show LEAD")[:1]
    lead = mask_lead(store.get_lead(lead_id))
    if args.json:
        print(json.dumps(plain_json(lead), ensure_ascii=False, indent=1))
        return 0
    out = [
        f"线索 {lead['lead_id']}  【{LEAD_STATUS[lead['status']]}】  评分 {lead['score']:.2f}",
        f"主体：{lead['subject_name'] or ''} {lead['subject_id_no']}  承办人：{lead['assignee'] or '未分配'}"
        f"  期限：{lead['due_date'] or ''}",
        f"转入 {yuan(lead['total_in'])}  转出 {yuan(lead['total_out'])}  参与人 {lead['individual_payers']} 名"
        f"（60 岁以上 {lead['elderly_share']:.0%}）  省份 {len(lead['provinces'])} 个",
        f"重点：{'、'.join(PRIORITY_MARKS[p] for p in lead['priority']) or '无'}"
        f"  领域：{sector_labels(lead['sectors']) or '无'}",
    ]
    links = parts.split_links(lead)
    if links["split_from"] or links["split_into"]:
        out.append(
            f"拆分自：{links['split_from'] or '无'}  拆分为：{'、'.join(links['split_into']) or '无'}"
            + (f"  同时拆出：{'、'.join(links['siblings'])}" if links["siblings"] else "")
        )
    from reports.leads_export import lead_notes  # openpyxl loads only for the commands that need it

    out += [f"备注：{note}" for note in lead_notes(lead, store.today())]
    out += ["", "资金流向：", "  " + lead["narrative"], "", "预警理由："]
    titles = {alert["rule_id"]: alert["title_zh"] for alert in lead["alerts"] if alert.get("title_zh")}
    out += [
        f"  [{r['rule_id']}] {titles[r['rule_id']] + '：' if r['rule_id'] in titles else ''}{r['zh']}"
        for r in lead["reasons"]
    ]
    out += ["", "涉及账户："]
    out += [
        "  " + line
        for line in table_text(
            ["账号", "户名", "角色", "转入", "转出"],
            [
                [
                    a["account_no"],
                    a["account_name"] or "",
                    ACCOUNT_ROLES.get(a["role"], a["role"]),
                    yuan(a["total_in"]),
                    yuan(a["total_out"]),
                ]
                for a in lead["accounts"]
            ],
        ).splitlines()
    ]
    out += ["", "处置台账："]
    out += [
        f"  #{m['measure_id']} {m['title_zh']}（{DISPOSITION_TYPES[m['disposition_type']]}）"
        f" 期限 {m['due_date'] or ''} {MEASURE_STATUSES[m['status']]}"
        + (f" 移送编号 {m['transfer_no']}" if m["transfer_no"] else "")
        for m in lead["measures"]
    ] or ["  无"]
    out += ["", "处理记录："]
    out += [_event_line(event) for event in lead["events"]]
    earlier = parts.earlier_events(store, lead)
    if earlier:
        out += ["", f"拆分前的处理记录（线索 {earlier[0]['lead_id']}）："]
        out += [_event_line(event) for event in earlier]
    allowed = lifecycle.allowed_moves(lead)
    out += ["", "可转为：" + ("、".join(lifecycle.status_label(s) for s in allowed) or "无")]
    # Names, memos and notes come from bank files and users: control characters are shown, never acted on.
    print("\n".join(printable(line) for line in out))
    return 0


def _event_line(event: dict) -> str:
    moved = (
        f" {LEAD_STATUS.get(event['from_status'], '')}→{LEAD_STATUS[event['to_status']]}"
        if event["action"] == "move"
        else ""
    )
    return (
        f"  #{event['seq']} {event['at']:%Y-%m-%d %H:%M} {event['user']} "
        f"{ACTION_LABELS.get(event['action'], event['action'])}{moved}：{event['note']}"
    )


def _assign(store: CaseStore, args) -> int:
    lead_id, assignee = _need(args.rest, 2, "assign LEAD USER --user NAME --note TEXT")[:2]
    seq = lifecycle.assign(store, lead_id, assignee, args.user, args.note, due=parse_date(args.due))
    print(f"线索 {lead_id} 已分配给 {assignee}（事件 #{seq}）/ assigned")
    return 0


def _move(store: CaseStore, args) -> int:
    rest = _need(args.rest, 2, "move LEAD STATUS [TARGET_LEAD] --user NAME --note TEXT")
    lead_id, to_status = rest[0], status_code(rest[1])
    before = store.get_lead(lead_id)
    if to_status == "CLOSED" and not before["close_proposed_by"]:
        # Closing takes two people: the first `move … CLOSED` proposes, a second person's confirms.
        seq = lifecycle.propose_close(store, lead_id, args.user, args.note)
        print(f"线索 {lead_id} 已提出销号，待复核员或主管确认（事件 #{seq}）/ close-out proposed")
        return 0
    merge_into = rest[2] if to_status == "MERGED" and len(rest) > 2 else None
    seq = lifecycle.move(
        store,
        lead_id,
        to_status,
        args.user,
        args.note,
        merge_into=merge_into,
        due=parse_date(args.due),
        expected_status=before["status"],
    )
    print(f"线索 {lead_id}：{LEAD_STATUS[before['status']]} → {LEAD_STATUS[to_status]}（事件 #{seq}）")
    return 0


def _measure(store: CaseStore, args) -> int:
    rest = _need(args.rest, 3, "measure LEAD add KIND --due DATE | measure LEAD done MEASURE_ID")
    lead_id, verb, what = rest[:3]
    if verb == "add":
        measure_id = lifecycle.add_measure(store, lead_id, what, args.user, args.note, parse_date(args.due))
        print(f"线索 {lead_id} 已登记处置事项 #{measure_id} / measure added")
    elif verb == "done":
        if not what.lstrip("#").isdigit():
            raise FundflowError(f"处置事项编号应为数字 / measure id must be a number: {what}")
        amount = float(args.amount) if args.amount else None
        lifecycle.complete_measure(
            store, lead_id, int(what.lstrip("#")), args.user, args.note, transfer_no=args.ref, amount=amount
        )
        print(f"线索 {lead_id} 处置事项 #{what.lstrip('#')} 已销号 / measure done")
    else:
        raise FundflowError(f"未知操作 / unknown measure action '{verb}' (add | done)")
    return 0


def _split(store: CaseStore, args) -> int:
    (lead_id,) = _need(args.rest, 1, "split LEAD --core ACC[,ACC] --core ACC … --user NAME --reason TEXT")[:1]
    from pipelines.cases import split  # publishing's code (and scikit-learn) loads only for a split

    cores = [part.split(",") for part in args.core]
    result = split.split_lead_in_home(store, lead_id, cores, args.user, args.note)
    parts = [mask_lead(store.get_lead(part_id)) for part_id in result.lead_ids]
    if args.json:
        print(json.dumps(plain_json([_part_summary(part) for part in parts]), ensure_ascii=False, indent=1))
        return 0
    print(f"线索 {lead_id} 已拆分为 {len(parts)} 条 / split into {len(parts)} leads")
    rows = [
        [
            part["lead_id"],
            SPLIT_PARTS["kept" if part["lead_id"] == lead_id else "new"],
            LEAD_STATUS[part["status"]],
            part["hub_account"] or "",
            str(len(part["accounts"])),
            str(part["individual_payers"]),
            yuan(part["total_in"]),
            yuan(part["total_out"]),
            "、".join(also["lead_id"] for also in part["also_in"]),
        ]
        for part in parts
    ]
    headers = ["线索编号", "拆分", "状态", "核心账户", "账户数", "参与人数", "转入金额", "转出金额", "参与人亦见于"]
    # names come from bank files: control characters are shown, never acted on
    print("\n".join(printable(line) for line in table_text(headers, rows).splitlines()))
    return 0


def _part_summary(lead: dict) -> dict:
    keys = ("lead_id", "status", "assignee", "hub_account", "total_in", "total_out", "individual_payers", "also_in")
    return {key: lead[key] for key in keys} | {"accounts": len(lead["accounts"]), **parts.split_links(lead)}


def _verify(store: CaseStore, args) -> int:
    broken = False
    for label, report in (("处理记录链", store.verify_events()), ("审计日志链", store.verify_audit())):
        if report.ok:
            print(f"{label}完整：{report.checked} 条 / {report.chain} chain intact ({report.checked})")
        else:
            broken = True
            print(
                f"{label}在第 {report.first_bad_seq} 条处被篡改或缺失 / {report.chain} chain broken at seq "
                f"{report.first_bad_seq}: {report.problem}"
            )
    return 1 if broken else 0


ACTIONS = {
    "list": _list,
    "show": _show,
    "assign": _assign,
    "move": _move,
    "measure": _measure,
    "split": _split,
    "verify": _verify,
}
