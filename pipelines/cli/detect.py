"""`fundflow detect`: run the rule pack, print alerts per rule, and publish the run's leads (unless --no-publish)."""

from __future__ import annotations

from detectors.pack import rule_order
from pipelines.cases.publish import publish_detection
from pipelines.detection.runner import run_detection
from pipelines.formatting import parse_date, table_text
from pipelines.settings import Settings


def detect_command(args, settings: Settings) -> int:
    as_of = parse_date(getattr(args, "as_of", None))
    result = run_detection(
        settings, as_of=as_of, window_days=getattr(args, "window_days", None), engine=getattr(args, "engine", None)
    )
    titles = {rule.rule_id: rule.title_zh for rule in result.rules}
    print(f"窗口 / window: {result.window_days} 天，截至 {result.as_of}")
    rows: list[list[object]] = [
        [rule_id, result.alerts_per_rule.get(rule_id, 0), titles[rule_id]] for rule_id in sorted(titles, key=rule_order)
    ]
    rows.append(["合计", len(result.alerts), f"预警 / alerts；线索环 / rings: {result.rings}"])
    print(table_text(["规则", "预警数", "名称"], rows, right={1}))
    print(f"运行编号 / run id: {result.run_id}（引擎 / engine: {result.engine}）")
    if getattr(args, "no_publish", False):
        print("未发布线索 / leads not published (--no-publish)")
        return 0
    published = publish_detection(settings, result.run_id)
    print(
        f"线索 / leads: 新增 new {published.new}，更新 updated {published.updated}，"
        f"关联已销号 linked {published.linked}，无变化 unchanged {published.unchanged}，"
        f"未达立案条件 below the opening rule {published.skipped}"
    )
    return 0
