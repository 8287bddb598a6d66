"""`fundflow export dossier LEAD`: one lead's evidence pack for a referral or a joint review (会商研判).

One self-contained HTML file — inline CSS and SVG, no script, no reference outside the file — holding the
narrative and every reason, the evidence graph (laid out here with networkx), the inflow/outflow timeline,
the transactions, the ledger items and the event history; or a PDF printed from it by headless Chromium.
Masked unless unmasked with a reason; every file is audited with its SHA-256. Jinja autoescapes everything.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import networkx as nx
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipelines.cases.sectors import sector_labels
from pipelines.cases.store import CaseStore
from pipelines.cases.timeline import lead_timeline
from pipelines.errors import FundflowError
from pipelines.formatting import day, yuan_value
from pipelines.hashing import file_sha256
from pipelines.masking import mask_account
from pipelines.settings import Settings
from pipelines.vocabulary import (
    ACCOUNT_ROLES,
    ACTION_LABELS,
    DISPOSITION_TYPES,
    LEAD_SOURCES,
    LEAD_STATUS,
    MEASURE_STATUSES,
    PAYMENT_METHODS,
    PRIORITY_MARKS,
    SUBJECT_KINDS,
    TYPOLOGIES,
    joined_words,
)
from reports.alerts import rule_titles
from reports.leads_export import (
    last_day,
    party_name,
    province_name,
    provinces_text,
    recommended_action,
    region_text,
    shown,
)
from reports.tables import ExportResult, check_unmask, export_user, record_export

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = (".html", ".pdf")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
PDF_TIMEOUT_SECONDS = 180

# The picture: participants beyond this many are one node; at most this many other accounts are drawn, and
# only the heaviest flows carry their amount as text (every flow has it as a tooltip).
GROUP_INVESTORS_ABOVE = 12
MAX_ACCOUNT_NODES = 30
MAX_LAYER_DISTANCE = 3
MAX_EDGE_LABELS = 14
GRAPH_WIDTH = 1000
GRAPH_MARGIN_X, GRAPH_MARGIN_Y = 110, 20
NODE_LABEL_SPACE = 36  # below each circle: its name and account number
ROLE_COLOURS = {
    "hub": "#c0392b",
    "collector": "#e67e22",
    "controller": "#8e44ad",
    "promoter": "#16a085",
    "investor": "#2e86c1",
    "other": "#7f8c8d",
    "cash": "#27ae60",
}
ROLE_LABELS = {**ACCOUNT_ROLES, "cash": "现金"}
TIMELINE_MAX_BARS = 120
# What a publishing run did to the lead, in the words of the lead's events.
RUN_ACTIVITY = {
    "new": ACTION_LABELS["created"],
    "update": ACTION_LABELS["new_activity"],
    "reopen-link": ACTION_LABELS["new_activity_linked"],
}
TIMELINE_WIDTH = 1000
TIMELINE_HEIGHT = 240


def money(amount: float | Decimal) -> str:
    """A short amount for the pictures: 12.35万 or 8,600元."""
    amount = float(amount)
    return f"{amount / 10_000:,.2f}万" if abs(amount) >= 10_000 else f"{amount:,.0f}元"


# --- the evidence graph -----------------------------------------------------------------------------------


@dataclass
class Node:
    key: str
    role: str
    name: str
    account: str
    total_in: float = 0.0
    total_out: float = 0.0
    payments: int = 0
    x: float = 0.0
    y: float = 0.0
    r: float = 0.0

    @property
    def amount(self) -> float:
        return self.total_in + self.total_out


@dataclass
class Picture:
    width: int
    height: int
    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    legend: list[dict] = field(default_factory=list)
    grouped_investors: int = 0
    folded_accounts: int = 0


def _graph_nodes(lead: dict, unmasked: bool) -> tuple[dict[str, Node], dict[str | None, str], int, int]:
    """The picture's nodes; for each account number in the evidence, the node that stands for it; and how many
    participants and how many other accounts were folded into one node each."""
    accounts = {a["account_no"]: a for a in lead["accounts"]}
    through: dict[str, float] = defaultdict(float)
    seen_names: dict[str, tuple[str | None, str | None]] = {}
    for payment in lead["payments"]:
        amount = float(payment["amount"] or 0)
        for side in ("payer", "payee"):
            account_no = payment[f"{side}_account"]
            if account_no:
                through[account_no] += amount
                seen_names.setdefault(account_no, (payment[f"{side}_name"], payment[f"{side}_kind"]))
    for account_no, account in accounts.items():
        through.setdefault(account_no, float(account["total_in"] or 0) + float(account["total_out"] or 0))
    investors = {no for no in through if accounts.get(no, {}).get("role") == "investor"}
    grouped = len(investors) > GROUP_INVESTORS_ABOVE
    others = sorted(
        (no for no in through if no not in investors), key=lambda no: (no != lead["hub_account"], -through[no], no)
    )
    drawn = set(others[:MAX_ACCOUNT_NODES]) | (set() if grouped else investors)

    nodes: dict[str, Node] = {}
    node_of: dict[str | None, str] = {None: "cash"}
    for account_no in through:
        if account_no in drawn:
            account = accounts.get(account_no, {})
            name, kind = seen_names.get(account_no, (None, None))
            name, kind = account.get("account_name") or name, account.get("holder_kind") or kind
            nodes[account_no] = Node(
                account_no,
                account.get("role", "other"),
                party_name(name, kind, unmasked),
                account_no if unmasked else mask_account(account_no),
            )
            node_of[account_no] = account_no
        elif account_no in investors:
            node_of[account_no] = "investors"
        else:
            node_of[account_no] = "others"
    if grouped:
        nodes["investors"] = Node("investors", "investor", f"集资参与人 {len(investors):,} 人", "（合并显示）")
    folded = len(others) - len(set(others) & drawn)
    if folded:
        nodes["others"] = Node("others", "other", f"其他账户 {folded:,} 个", "（合并显示）")
    if any(p["payer_account"] is None or p["payee_account"] is None for p in lead["payments"]):
        nodes["cash"] = Node("cash", "cash", "现金", "存取现")
    return nodes, node_of, len(investors) if grouped else 0, folded


def _layers(graph: nx.DiGraph, hub: str, nodes: dict[str, Node]) -> dict[int, list[str]]:
    """Hub in the middle; money's sources to its left by distance, where it goes to its right."""
    downstream = nx.single_source_shortest_path_length(graph, hub)
    upstream = nx.single_source_shortest_path_length(graph.reverse(copy=False), hub)
    layers: dict[int, list[str]] = defaultdict(list)
    for key, node in nodes.items():
        if key == hub:
            layer = 0
        elif key in upstream and (key not in downstream or upstream[key] <= downstream[key]):
            layer = -upstream[key]
        elif key in downstream:
            layer = downstream[key]
        else:
            layer = -1 if node.role == "investor" else 1
        layers[max(-MAX_LAYER_DISTANCE, min(MAX_LAYER_DISTANCE, layer))].append(key)
    return dict(sorted(layers.items()))


def _place(graph: nx.DiGraph, layers: dict[int, list[str]], nodes: dict[str, Node]) -> int:
    """Set each node's x (its layer) and y; returns the picture's height.

    Layers are filled from the hub outwards; in each, nodes sit in the order of their neighbours already placed
    (the barycentre rule, which keeps lines from crossing), stacked by their size and centred.
    """
    low, high = min(layers), max(layers)
    for layer, members in layers.items():
        for key in members:
            nodes[key].x = (
                GRAPH_WIDTH / 2
                if low == high
                else (GRAPH_MARGIN_X + (layer - low) / (high - low) * (GRAPH_WIDTH - 2 * GRAPH_MARGIN_X))
            )
    slot = {key: 2 * node.r + NODE_LABEL_SPACE for key, node in nodes.items()}
    height = max(300, max(sum(slot[key] for key in members) for members in layers.values()) + 2 * GRAPH_MARGIN_Y)
    undirected = graph.to_undirected(as_view=True)
    placed: set[str] = set()
    for layer in sorted(layers, key=lambda number: (abs(number), number)):
        members = sorted(layers[layer], key=lambda key: _barycentre(key, undirected, nodes, placed))
        y = (height - sum(slot[key] for key in members)) / 2
        for key in members:
            nodes[key].y = y + nodes[key].r + 4
            y += slot[key]
        placed.update(members)
    return int(height)


def _barycentre(key: str, undirected: nx.Graph, nodes: dict[str, Node], placed: set[str]) -> tuple:
    """Sort key: the mean height of the node's neighbours already placed, then the bigger node first."""
    known = [nodes[other].y for other in undirected.neighbors(key) if other in placed]
    return (sum(known) / len(known) if known else math.inf, -nodes[key].amount, key)


def evidence_graph(lead: dict, unmasked: bool) -> Picture:
    """The evidence subgraph as positioned circles and arrows: nodes sized by money, coloured by role."""
    nodes, node_of, grouped, folded = _graph_nodes(lead, unmasked)
    flows: dict[tuple[str, str], list] = {}
    for payment in lead["payments"]:
        amount = float(payment["amount"] or 0)
        source, target = node_of[payment["payer_account"]], node_of[payment["payee_account"]]
        nodes[source].total_out += amount
        nodes[target].total_in += amount
        nodes[source].payments += 1
        nodes[target].payments += 1
        if source != target:
            flow = flows.setdefault((source, target), [0.0, 0])
            flow[0] += amount
            flow[1] += 1
    if not nodes:
        return Picture(GRAPH_WIDTH, 80)
    biggest = max(node.amount for node in nodes.values()) or 1.0
    for node in nodes.values():
        node.r = 9 + 22 * math.sqrt(node.amount / biggest)
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(flows)
    hub = lead["hub_account"] if lead["hub_account"] in nodes else max(nodes.values(), key=lambda n: n.amount).key
    height = _place(graph, _layers(graph, hub, nodes), nodes)

    picture = Picture(GRAPH_WIDTH, height, grouped_investors=grouped, folded_accounts=folded)
    heaviest = max((amount for amount, _ in flows.values()), default=1.0) or 1.0
    labelled = set(sorted(flows, key=lambda pair: -flows[pair][0])[:MAX_EDGE_LABELS])
    for (source, target), (amount, count) in sorted(flows.items(), key=lambda item: item[1][0]):
        picture.edges.append(
            _edge(
                nodes[source],
                nodes[target],
                amount,
                count,
                heaviest,
                bend=(target, source) in flows,
                labelled=(source, target) in labelled,
            )
        )
    for node in nodes.values():
        picture.nodes.append(
            {
                "x": round(node.x, 1),
                "y": round(node.y, 1),
                "r": round(node.r, 1),
                "colour": ROLE_COLOURS.get(node.role, ROLE_COLOURS["other"]),
                "name": node.name[:16],
                "account": node.account,
                "label_y": round(node.y + node.r + 12, 1),
                "title": f"{node.name} {node.account}（{ROLE_LABELS.get(node.role, node.role)}）"
                f" 转入 {money(node.total_in)} 转出 {money(node.total_out)}，{node.payments} 笔",
            }
        )
    roles = list(dict.fromkeys(node.role for node in nodes.values()))
    picture.legend = [
        {"colour": ROLE_COLOURS.get(role, ROLE_COLOURS["other"]), "label": ROLE_LABELS.get(role, role)}
        for role in roles
    ]
    return picture


def _edge(source: Node, target: Node, amount: float, count: int, heaviest: float, bend: bool, labelled: bool) -> dict:
    """A curved arrow from circle edge to circle edge; two-way flows bend apart so both stay visible."""
    dx, dy = target.x - source.x, target.y - source.y
    length = math.hypot(dx, dy) or 1.0
    normal_x, normal_y = -dy / length, dx / length
    offset = 28 if bend else 0
    control_x = (source.x + target.x) / 2 + normal_x * offset
    control_y = (source.y + target.y) / 2 + normal_y * offset

    def toward(node: Node, x: float, y: float, gap: float) -> tuple[float, float]:
        distance = math.hypot(x - node.x, y - node.y) or 1.0
        return node.x + (x - node.x) / distance * gap, node.y + (y - node.y) / distance * gap

    start = toward(source, control_x, control_y, source.r)
    end = toward(target, control_x, control_y, target.r + 4)
    label_x = 0.25 * start[0] + 0.5 * control_x + 0.25 * end[0]
    label_y = 0.25 * start[1] + 0.5 * control_y + 0.25 * end[1]
    return {
        "path": f"M{start[0]:.1f},{start[1]:.1f} Q{control_x:.1f},{control_y:.1f} {end[0]:.1f},{end[1]:.1f}",
        "width": round(1 + 6 * math.sqrt(amount / heaviest), 2),
        "label": f"{money(amount)}（{count}笔）",
        "labelled": labelled,
        "label_x": round(label_x, 1),
        "label_y": round(label_y - 3, 1),
    }


# --- the timeline -----------------------------------------------------------------------------------------


def timeline(lead: dict) -> list[dict]:
    """The lead's timeline (pipelines.cases.timeline, the one the console shows)."""
    return lead_timeline(lead)


def timeline_chart(lead: dict) -> dict:
    """The timeline as bars: inflow above the axis, outflow below it, on one scale."""
    buckets = timeline(lead)
    left, right, top = 70, 20, 24
    plot_width = TIMELINE_WIDTH - left - right
    half = (TIMELINE_HEIGHT - 2 * top) / 2
    axis_y = top + half
    peak = max((max(b["inflow"], b["outflow"]) for b in buckets), default=0.0) or 1.0
    step = plot_width / max(len(buckets), 1)
    bars = []
    for index, bucket in enumerate(buckets):
        x = left + index * step + step * 0.1
        up, down = bucket["inflow"] / peak * half, bucket["outflow"] / peak * half
        span = day(bucket["day"]) if bucket["days"] == 1 else (f"{day(bucket['day'])} 起 {bucket['days']} 天")
        bars.append(
            {
                "x": round(x, 1),
                "width": round(max(step * 0.8, 0.5), 2),
                "in_y": round(axis_y - up, 1),
                "in_height": round(up, 1),
                "out_y": round(axis_y, 1),
                "out_height": round(down, 1),
                "title": f"{span} 流入 {money(bucket['inflow'])} 流出 {money(bucket['outflow'])}",
            }
        )
    ticks = []
    if buckets:
        for index in sorted({0, len(buckets) // 2, len(buckets) - 1}):
            ticks.append({"x": round(left + index * step + step / 2, 1), "label": day(buckets[index]["day"])})
    return {
        "width": TIMELINE_WIDTH,
        "height": TIMELINE_HEIGHT,
        "left": left,
        "right": TIMELINE_WIDTH - right,
        "top": top,
        "axis_y": round(axis_y, 1),
        "bottom": TIMELINE_HEIGHT - top,
        "bars": bars,
        "ticks": ticks,
        "peak": money(peak) if buckets else "",
        "per_week": bool(buckets) and buckets[0]["days"] > 1,
        "total_in": money(sum(b["inflow"] for b in buckets)),
        "total_out": money(sum(b["outflow"] for b in buckets)),
    }


# --- the page ---------------------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        yuan=lambda value: f"{yuan_value(value):,}",
        day=day,
        money=money,
        minute=lambda value: value.strftime("%Y-%m-%d %H:%M") if value else "",
    )
    return env


def _party(number: str | None, name: str | None) -> str:
    return f"{name or ''} {number}".strip() if number else "现金"


def dossier_context(
    lead: dict, unmasked: bool, titles: dict[str, str], user: str, reason: str | None, now: datetime, today: date
) -> dict:
    """Everything the template shows; `lead` is `CaseStore.get_lead`'s result, masked here unless unmasked."""
    person = shown(lead, unmasked)
    open_measures = sum(m["status"] != "DONE" for m in lead["measures"])
    return {
        "lead": person,
        "generated_at": now.strftime("%Y-%m-%d %H:%M"),
        "user": user,
        "unmasked": unmasked,
        "reason": reason,
        "status": LEAD_STATUS.get(lead["status"], lead["status"]),
        "source": LEAD_SOURCES.get(lead["source"], lead["source"]),
        "subject_kind": SUBJECT_KINDS.get(lead["subject_kind"], lead["subject_kind"] or ""),
        "region": region_text(lead["subject_region"]),
        "window": f"{day(lead['window_start'])} 至 {last_day(lead['window_end'])}",
        "provinces": provinces_text(lead["provinces"]),
        "province_rows": [
            {"name": province_name(item["province"]), "participants": item["participants"], "amount": item["amount"]}
            for item in (lead["province_stats"] or {}).get("by_province") or []
        ],
        "sectors": sector_labels(lead["sectors"]),
        "priority": joined_words(lead["priority"], PRIORITY_MARKS),
        "typologies": joined_words(lead["typologies"], TYPOLOGIES),
        "recommended_action": recommended_action(lead, open_measures),
        "reasons": [
            {"rule_id": r["rule_id"], "title": titles.get(r["rule_id"], ""), "zh": r["zh"], "en": r["en"]}
            for r in lead["reasons"] or []
        ],
        "alerts": [
            dict(a, title=titles.get(a["rule_id"]) or a["title_zh"] or "", window_last=last_day(a["window_end"]))
            for a in person["alerts"]
        ],
        "graph": evidence_graph(lead, unmasked),
        "timeline": timeline_chart(lead),
        "accounts": [dict(a, role_label=ACCOUNT_ROLES.get(a["role"], a["role"])) for a in person["accounts"]],
        "payments": [
            dict(
                p,
                payer=_party(p["payer_account"], p["payer_name"]),
                payee=_party(p["payee_account"], p["payee_name"]),
                method_label=PAYMENT_METHODS.get(p["method"], p["method"]),
            )
            for p in person["payments"]
        ],
        "payments_total": sum((Decimal(str(p["amount"] or 0)) for p in lead["payments"]), Decimal(0)),
        "measures": [
            dict(
                m,
                disposition_label=DISPOSITION_TYPES.get(m["disposition_type"], m["disposition_type"]),
                status_label=MEASURE_STATUSES.get(m["status"], m["status"]),
                overdue=m["status"] != "DONE" and m["due_date"] is not None and m["due_date"] < today,
            )
            for m in lead["measures"]
        ],
        "events": [
            dict(
                e,
                action_label=ACTION_LABELS.get(e["action"], e["action"]),
                from_label=LEAD_STATUS.get(e["from_status"] or "", e["from_status"] or ""),
                to_label=LEAD_STATUS.get(e["to_status"] or "", e["to_status"] or ""),
            )
            for e in lead["events"]
        ],
        "runs": [dict(run, activity_label=RUN_ACTIVITY.get(run["activity"], run["activity"])) for run in lead["runs"]],
        "notes": [
            dict(note, account=(note["account_no"] if unmasked else mask_account(note["account_no"])) or "")
            for note in lead.get("notes", [])
        ],
    }


def render_dossier(
    lead: dict, unmasked: bool, titles: dict[str, str], user: str, reason: str | None, now: datetime, today: date
) -> str:
    context = dossier_context(lead, unmasked, titles, user, reason, now, today)
    return _environment().get_template("dossier.html.j2").render(**context)


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def print_pdf(html: str, out: Path) -> None:
    """Print the page to PDF with headless Chromium, offline, in a throwaway profile."""
    chromium = find_chromium()
    if chromium is None:
        raise FundflowError(
            "未安装 Chromium，无法生成 PDF，请导出 .html / chromium is not installed: "
            "export the dossier as .html instead"
        )
    with tempfile.TemporaryDirectory(prefix="fundflow-pdf-") as work:
        page = Path(work) / "dossier.html"
        page.write_text(html, encoding="utf-8")
        printed = Path(work) / "dossier.pdf"
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={Path(work) / 'profile'}",
            f"--print-to-pdf={printed}",
            page.as_uri(),
        ]
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=PDF_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise FundflowError(f"Chromium 生成 PDF 超时 / chromium timed out after {PDF_TIMEOUT_SECONDS}s") from None
        if not printed.exists() or printed.stat().st_size == 0:
            detail = (finished.stderr or "").strip().splitlines()[-1:] or [f"exit {finished.returncode}"]
            raise FundflowError(f"Chromium 未能生成 PDF / chromium could not print the PDF: {detail[0]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(printed), out)


def export_dossier(
    settings: Settings,
    lead_id: str,
    out_path: str | Path,
    user: str | None = None,
    unmasked: bool = False,
    reason: str | None = None,
) -> ExportResult:
    """Write one lead's dossier as .html (self-contained) or .pdf, and audit it; `rows` is its payments."""
    reason = check_unmask(unmasked, reason)
    user = export_user(user)
    out = Path(out_path)
    if out.suffix.lower() not in FORMATS:
        raise FundflowError(f"卷宗须为 .html 或 .pdf / a dossier must end in .html or .pdf: {out.name}")
    if not lead_id:
        raise FundflowError("导出卷宗须指明线索编号 / a dossier needs a lead id")
    store = CaseStore.open(settings)
    try:
        lead = store.get_lead(lead_id)
        now, today = store.now(), store.today()
    finally:
        store.close()
    html = render_dossier(lead, unmasked, rule_titles(settings), user, reason, now, today)
    if out.suffix.lower() == ".pdf":
        print_pdf(html, out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    sha256 = file_sha256(out)
    record_export(
        settings,
        user,
        "dossier",
        [(out, sha256)],
        unmasked,
        reason,
        target=lead_id,
        detail={"payments": len(lead["payments"])},
    )
    return ExportResult(path=out, sha256=sha256, rows=len(lead["payments"]), files=((out, sha256),))
