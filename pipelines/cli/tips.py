"""`fundflow tips import|list|show|match|move|answer|reveal|reward|paid|lead`: public tips (群众举报).

The reporter is masked in every listing and in `--json`; `reveal` shows them to a supervisor who gives a
reason (audited). `import` and `match` look the tips up in the warehouse (read-only) and in the leads.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from pipelines.cases import tip_matching, tips
from pipelines.cases.store import CaseStore, plain_json
from pipelines.errors import FundflowError, WarehouseBusyError
from pipelines.formatting import parse_date, table_text
from pipelines.hashing import file_sha256
from pipelines.ingest.tip_file import read_tip_file
from pipelines.settings import Settings
from pipelines.vocabulary import TIP_ACTIONS, TIP_CHANNELS, TIP_MATCH_KINDS, TIP_MATCH_STATE, TIP_OVERDUE, TIP_STATUS
from pipelines.warehouse import db as warehouse


def tips_command(args, settings: Settings) -> int:
    store = CaseStore.open(settings)
    try:
        return ACTIONS[args.action](store, settings, args)
    finally:
        store.close()


@contextmanager
def _warehouse(settings: Settings):
    """The warehouse read-only, or None when there is none yet or the nightly run holds it."""
    if not settings.warehouse_path.exists():
        yield None
        return
    try:
        con = warehouse.connect(settings, read_only=True)
    except WarehouseBusyError:
        print("数据仓库正忙，仅与线索库比对 / warehouse busy: matched against the leads only")
        yield None
        return
    try:
        yield con
    finally:
        con.close()


def _need(rest: list[str], count: int, usage: str) -> list[str]:
    if len(rest) < count:
        raise FundflowError(f"参数不足 / missing arguments; 用法 / usage: fundflow tips {usage}")
    return rest


def _import(store: CaseStore, settings: Settings, args) -> int:
    (name,) = _need(args.rest, 1, "import FILE")[:1]
    path = Path(name)
    sheet = read_tip_file(path)
    now = store.now()
    good, bad = [], []
    for row_no, cells in sheet.rows:
        tip, problems = tips.parse_row(row_no, cells, now)
        if tip is None:
            bad += problems
        else:
            good.append((row_no, tip))
    result = tips.register_import(store, path.name, file_sha256(path), good, bad, args.user)
    if result.status == "duplicate_file":
        print(f"{path.name}: 重复文件，未新增 / already loaded, nothing added")
        return 0
    matched = 0
    with _warehouse(settings) as con:
        for tip_id in result.registered:
            matched += bool(tip_matching.match_tip(store, con, tip_id, args.user or tips.SYSTEM_USER))
    print(
        f"{path.name}: 读取 {result.rows_read} 行，登记 {len(result.registered)} 条，重复 {result.duplicates} 条，"
        f"隔离 {len({q.row_no for q in bad})} 行，匹配到 {matched} 条 / read {result.rows_read}, registered "
        f"{len(result.registered)}, duplicates {result.duplicates}, quarantined {len({q.row_no for q in bad})}"
    )
    if sheet.ignored:
        print(f"忽略未知列 / ignored unknown columns: {', '.join(sheet.ignored)}")
    for problem in bad:
        print(f"  {path.name} 第 {problem.row_no} 行 / row {problem.row_no} [{problem.field}]: {problem.reason}")
    return 0


def _row(tip: dict) -> list[str]:
    return [
        tip["tip_id"],
        f"{tip['received_at']:%Y-%m-%d %H:%M}",
        TIP_CHANNELS.get(tip["channel"], tip["channel"]),
        TIP_STATUS[tip["status"]] + (f"（{TIP_OVERDUE}）" if tip["overdue"] else ""),
        f"{tip['feedback_due']:%Y-%m-%d}",
        TIP_MATCH_STATE[tip["match_state"]],
        "、".join(tip["lead_ids"]) or "-",
        tip["reporter_name"] or "-",
        "、".join(tip["companies"] + tip["people"])[:30] or "-",
    ]


def _for_machines(tip: dict) -> dict:
    return plain_json(
        tips.shown_tip(tip)
        | {"status_label": TIP_STATUS[tip["status"]], "match_state_label": TIP_MATCH_STATE[tip["match_state"]]}
    )


def _list(store: CaseStore, settings: Settings, args) -> int:
    statuses = [s.strip().upper() for s in args.status.split(",")] if args.status else None
    found = tips.list_tips(store, status=statuses)
    if args.json:
        print(json.dumps([_for_machines(tip) for tip in found], ensure_ascii=False, indent=1))
        return 0
    headers = ["举报编号", "受理时间", "渠道", "环节", "反馈期限", "匹配", "线索", "举报人", "被举报对象"]
    print(table_text(headers, [_row(tips.shown_tip(tip)) for tip in found]))
    print(f"共 {len(found)} 条 / {len(found)} tip(s)")
    return 0


def _show(store: CaseStore, settings: Settings, args) -> int:
    (tip_id,) = _need(args.rest, 1, "show TIP")[:1]
    tip = tips.get_tip(store, tip_id)
    if args.json:
        print(json.dumps(_for_machines(tip), ensure_ascii=False, indent=1))
        return 0
    shown = tips.shown_tip(tip)
    overdue = f"（{TIP_OVERDUE}）" if tip["overdue"] else ""
    lines = [
        f"举报 {shown['tip_id']}  {TIP_CHANNELS.get(shown['channel'], shown['channel'])}  "
        f"受理时间 {shown['received_at']:%Y-%m-%d %H:%M}",
        f"环节 / status: {TIP_STATUS[shown['status']]} {shown['status']}{overdue}  "
        f"反馈期限 / feedback due: {shown['feedback_due']:%Y-%m-%d}",
        f"举报人 / reporter: {shown['reporter_name'] or '-'}  电话 {shown['reporter_phone'] or '-'}  "
        f"证件 {shown['reporter_id_no'] or '-'}",
        f"被举报对象 / subjects: {'、'.join(shown['companies'] + shown['people']) or '-'}",
        f"涉及账号 / accounts: {'、'.join(shown['accounts']) or '-'}  涉及电话 / phones: {'、'.join(shown['phones']) or '-'}",
        f"举报内容 / content: {shown['content']}",
        f"匹配 / matches: {TIP_MATCH_STATE[shown['match_state']]}",
    ]
    for match in shown["matches"]:
        lines.append(
            f"  {TIP_MATCH_KINDS.get(match['kind'], match['kind'])} {match['subject']} → "
            f"{match['lead_id'] or '-'} {match['account_no'] or ''} {match['matched_name'] or ''} "
            f"强度 {match['strength']:.2f}  {match['how']}"
        )
    if shown["answer"]:
        lines.append(f"答复 / answer ({shown['answered_by']}, {shown['answered_at']:%Y-%m-%d}): {shown['answer']}")
    for reward in shown["rewards"]:
        paid = f"，{reward['paid_on']} 由 {reward['paid_by']} 发放" if reward["paid_on"] else "，未发放"
        lines.append(f"奖励 #{reward['reward_id']}: {reward['decision']} {reward['amount'] or ''}{paid}")
    lines.append("办理记录 / history:")
    for event in shown["events"]:
        lines.append(
            f"  {event['at']:%Y-%m-%d %H:%M} {event['user']} {TIP_ACTIONS.get(event['action'], event['action'])}："
            f"{event['note']}"
        )
    print("\n".join(lines))
    return 0


def _match(store: CaseStore, settings: Settings, args) -> int:
    user = args.user or tips.SYSTEM_USER
    with _warehouse(settings) as con:
        if args.rest:
            found = {tip_id: tip_matching.match_tip(store, con, tip_id, user) for tip_id in args.rest}
        else:
            found = tip_matching.rematch_open_tips(store, con, user)
    for tip_id, new in found.items():
        leads = sorted({m.lead_id for m in new if m.lead_id})
        print(f"{tip_id}: 新匹配 {len(new)} 项 / {len(new)} new; 线索 / leads: {'、'.join(leads) or '-'}")
    if not any(found.values()):
        print("没有新匹配 / no new matches")
    return 0


def _move(store: CaseStore, settings: Settings, args) -> int:
    tip_id, status = _need(args.rest, 2, "move TIP STATUS --user NAME --note TEXT")[:2]
    code = status.upper()
    for known, label in TIP_STATUS.items():
        if status == label:
            code = known
    tips.move_tip(store, tip_id, code, args.user, args.note)
    print(f"{tip_id} → {TIP_STATUS.get(code, code)}")
    return 0


def _answer(store: CaseStore, settings: Settings, args) -> int:
    (tip_id,) = _need(args.rest, 1, "answer TIP --user NAME --note ANSWER")[:1]
    tips.answer_tip(store, tip_id, args.user, args.note)
    print(f"{tip_id} 已答复 / answered")
    return 0


def _reveal(store: CaseStore, settings: Settings, args) -> int:
    (tip_id,) = _need(args.rest, 1, "reveal TIP --user SUPERVISOR --reason TEXT")[:1]
    reporter = tips.reveal_reporter(store, tip_id, args.user, args.reason)
    print(
        f"举报人 {reporter['reporter_name'] or '-'}  电话 {reporter['reporter_phone'] or '-'}  证件 {reporter['reporter_id_no'] or '-'}"
    )
    print("（已记入审计日志 / recorded in the audit log）")
    return 0


def _reward(store: CaseStore, settings: Settings, args) -> int:
    tip_id, decision = _need(args.rest, 2, "reward TIP GRANT|REFUSE [--amount A] --user NAME --note TEXT")[:2]
    reward_id = tips.decide_reward(store, tip_id, args.user, decision.upper(), args.amount, args.note)
    print(f"奖励记录 #{reward_id} / reward #{reward_id}")
    return 0


def _paid(store: CaseStore, settings: Settings, args) -> int:
    (reward_id,) = _need(args.rest, 1, "paid REWARD --date YYYY-MM-DD --user NAME --note TEXT")[:1]
    paid_on = parse_date(args.date, "发放") or store.today()
    tips.pay_reward(store, int(reward_id), args.user, paid_on, args.note)
    print(f"奖励 #{reward_id} 已发放 / paid {paid_on}")
    return 0


def _lead(store: CaseStore, settings: Settings, args) -> int:
    (tip_id,) = _need(args.rest, 1, "lead TIP --user NAME --note TEXT")[:1]
    with _warehouse(settings) as con:
        if con is None:
            raise FundflowError("须有数据仓库才能据举报立线索 / a manual lead needs the warehouse (busy or missing)")
        lead_id = tip_matching.open_manual_lead(store, con, tip_id, args.user, args.note)
    print(f"已立线索 / opened lead {lead_id}")
    return 0


ACTIONS = {
    "import": _import,
    "list": _list,
    "show": _show,
    "match": _match,
    "move": _move,
    "answer": _answer,
    "reveal": _reveal,
    "reward": _reward,
    "paid": _paid,
    "lead": _lead,
}
