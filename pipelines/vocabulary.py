"""The vocabulary: the words a person reads for every code (status, event, role, kind …), in one place, so the
CLI, the console and the exports say the same thing. Imports nothing: every layer, detectors included, may use it."""

from __future__ import annotations


def joined_words(codes, table: dict[str, str]) -> str:
    """The words for several codes, joined as Chinese lists are (、); an unknown code reads as itself."""
    return "、".join(table.get(code, code) for code in codes or [])


LEAD_STATUS = {
    "NEW": "新线索",
    "TRIAGE": "初核",
    "CONSULTATION": "会商研判",
    "DETERMINED_ILLEGAL": "认定非法集资",
    "NOT_ILLEGAL": "认定不构成",
    "DISPOSITION": "分类处置",
    "CLOSED": "已销号",
    "ON_HOLD": "挂起",
    "MERGED": "已合并",
}

ROLES = {"analyst": "分析员", "reviewer": "复核员", "supervisor": "主管", "auditor": "审计员", "admin": "管理员"}

TYPOLOGIES = {
    "fan_in": "分散转入集中转出",
    "pass_through": "快进快出",
    "interest_payout": "定期付息返利",
    "round_amounts": "整数/固定倍数金额",
    "memo_keywords": "附言关键词",
    "elderly_payers": "老年人集中转入",
    "dormant_burst": "新开户/久悬户突然活跃",
    "night_activity": "夜间交易",
    "controlled_accounts": "一人多户/多户同控",
    "insider_commission": "转入高管/佣金",
    "cash_out": "大额取现/拆分取现",
    "cross_region": "跨地区",
    "unrelated_business": "与经营无关的收款",
    "near_threshold": "接近大额标准",
    "fan_out": "分散转出",
    "cycle": "循环转账",
    "scatter_gather": "分散-汇聚",
    "gather_scatter": "汇聚-分散",
    "bipartite": "多对多",
    "stack": "多层转移",
    "anomaly": "异常评分",
}

DIRECTION = {"IN": "收", "OUT": "付"}
REPORT_KIND = {"LARGE": "大额", "SUSPICIOUS": "可疑"}

# GB/T 2260 province codes: the first two digits of a region code.
PROVINCES = {
    "11": "北京",
    "12": "天津",
    "13": "河北",
    "14": "山西",
    "15": "内蒙古",
    "21": "辽宁",
    "22": "吉林",
    "23": "黑龙江",
    "31": "上海",
    "32": "江苏",
    "33": "浙江",
    "34": "安徽",
    "35": "福建",
    "36": "江西",
    "37": "山东",
    "41": "河南",
    "42": "湖北",
    "43": "湖南",
    "44": "广东",
    "45": "广西",
    "46": "海南",
    "50": "重庆",
    "51": "四川",
    "52": "贵州",
    "53": "云南",
    "54": "西藏",
    "61": "陕西",
    "62": "甘肃",
    "63": "青海",
    "64": "宁夏",
    "65": "新疆",
    "71": "台湾",
    "81": "香港",
    "82": "澳门",
}

PAYMENT_METHODS = {
    "CASH": "现金",
    "TRANSFER": "转账",
    "ONLINE": "网银/手机银行",
    "POS": "POS",
    "ATM": "ATM",
    "CROSS_BORDER": "跨境",
    "OTHER": "其他",
}

# Lead events, by the action recorded in the event log (CLI `leads show`, console lead page, dossier).
ACTION_LABELS = {
    "created": "生成线索",
    "move": "状态变更",
    "assign": "分配",
    "propose_close": "提出销号",
    "merge_in": "并入线索",
    "split": "拆分",
    "split_from": "拆分自",
    "new_activity": "新增活动",
    "new_activity_linked": "出现新活动（另立新线索）",
    "measure_add": "登记处置事项",
    "measure_done": "处置事项销号",
    "tip_attached": "关联群众举报",
    "note": "备注",
}

# Public tips (群众举报): channels, the tip procedure 受理 → 核实 → 办理 → 反馈, matches and rewards.
TIP_CHANNELS = {"PHONE": "电话", "MAIL": "邮箱", "LETTER": "信函", "VISIT": "来访", "ONLINE": "网络"}
TIP_STATUS = {"RECEIVED": "受理", "VERIFYING": "核实", "HANDLING": "办理", "ANSWERED": "反馈"}
TIP_MATCH_STATE = {"NONE": "未匹配（待核实）", "ACCOUNTS": "匹配到账户", "LEAD": "已关联线索"}
TIP_MATCH_KINDS = {"account": "账号", "id_no": "证件号码", "phone": "电话", "name": "名称"}
TIP_REWARD_DECISIONS = {"GRANT": "给予奖励", "REFUSE": "不予奖励"}
TIP_ACTIONS = {
    "registered": "登记",
    "move": "办理环节变更",
    "answer": "答复举报人",
    "matched": "匹配",
    "attached": "关联线索",
    "manual_lead": "据此立线索",
    "reward_decide": "奖励决定",
    "reward_paid": "奖励发放",
    "reporter_revealed": "查看举报人身份",
}
TIP_OVERDUE = "逾期未反馈"
# Tip spreadsheet columns: canonical name → (Chinese header, English aliases).
TIP_COLUMNS = {
    "received_at": ("受理时间", ("received_at", "received", "time", "date")),
    "channel": ("渠道", ("channel", "source")),
    "reporter_name": ("举报人", ("reporter", "reporter_name", "name")),
    "reporter_phone": ("联系电话", ("reporter_phone", "contact_phone", "contact")),
    "reporter_id_no": ("证件号码", ("reporter_id_no", "id_no", "id")),
    "subjects": ("被举报对象", ("subjects", "reported", "reported_subjects")),
    "accounts": ("涉及账号", ("accounts", "account_no", "account_nos")),
    "phones": ("涉及电话", ("phones", "phone", "phone_nos")),
    "content": ("举报内容", ("content", "text", "details")),
    "addresses": ("地址", ("address", "addresses")),
    "town": ("乡镇", ("town", "township")),
}

# Form fields the console names when one is missing (FastAPI's own message would be raw English JSON).
FORM_FIELDS = {
    "note": "说明",
    "status": "目标状态",
    "assignee": "承办人",
    "kind": "处置事项",
    "choice": "号码",
    "name": "用户名",
    "password": "密码",
    "text": "备注内容",
    "role": "角色",
}

# Reporting institutions' scorecard (`fundflow institutions report`, console page 报告机构).
INSTITUTION_MEASURES = {
    "institution_code": "报告机构编码",
    "period": "统计期间",
    "files": "文件数",
    "files_large": "大额文件数",
    "files_suspicious": "可疑文件数",
    "lines": "报告行数",
    "lines_large": "大额报告行数",
    "lines_suspicious": "可疑报告行数",
    "loaded": "入库行数",
    "quarantined": "隔离行数",
    "quarantine_rate": "隔离率",
    "warned_lines": "提示行数（软校验）",
    "soft_finding_rate": "软校验提示率",
    "lines_timed": "计时行数",
    "late_lines": "逾期行数",
    "late_share": "逾期占比",
    "max_lag_working_days": "最长滞后（工作日）",
    "last_file_on": "最近来文日期",
    "working_days_since_last_file": "距最近来文（工作日）",
    "transfer_sides": "应有两端的转账笔数",
    "missing_legs": "本机构漏报一端笔数",
    "missing_leg_share": "漏报一端占比",
    "large_unreported": "应报未报大额笔数",
    "large_unreported_amount": "应报未报大额金额（元）",
    "suspect_accounts": "线索涉及本机构账户数",
    "missed_suspicious": "应报未报可疑账户数",
    "completeness_lowest": "字段完整率最低值",
    "crossed": "超过提示阈值",
    "no_file_working_days": "连续未来文（工作日）",
}
SOFT_FINDINGS = {"bad_id_checksum": "证件号校验位错误", "bad_card_luhn": "卡号校验失败", "unknown_currency": "未知币种"}
DETECTOR_FIELDS = {
    "counterparty_account_no": "对方账号",
    "counterparty_name": "对方户名",
    "customer_id_no": "证件号码",
    "counterparty_id_no": "对方证件号码",
    "match_no": "收付款方匹配号",
    "memo": "交易附言",
    "place_code": "交易发生地",
}
HOW_REPORTED = {"large_only": "仅报大额", "not_reported": "未报告"}

# Console queue views (whose work a list shows).
QUEUE_VIEWS = {"": "全部线索", "mine": "我的线索", "confirm": "待我确认销号", "overdue": "超期线索"}

# Roles of the accounts of a lead (ring members).
ACCOUNT_ROLES = {
    "hub": "资金归集账户",
    "collector": "归集/代收账户",
    "investor": "参与人账户",
    "promoter": "推广/佣金账户",
    "controller": "实际控制人账户",
    "other": "其他关联账户",
}
PRIORITY_MARKS = {
    "major_amount": "亿元以上",
    "cross_province": "跨省",
    "many_elderly": "涉老年人多",
    "tip_reported": "群众举报",  # set by pipelines.cases.tip_matching when a tip attaches; kept on republish
    # set when publishing from rules/lookalikes.yaml and the register of lawful entities (issue 23)
    "lookalike_cleared": "类似正常经营（已降序）",
    "registered": "登记在册的合法主体（已降序）",
    "registered_suspect": "登记在册但资金特征类似集资",
}
# Lawful look-alike kinds (rules/lookalikes.yaml, the register of lawful entities, the generator's truth).
LOOKALIKE_KINDS = {
    "coop": "农民专业合作社",
    "care_home": "养老机构",
    "insurer": "保险机构",
    "bank_product": "银行理财/结算账户",
    "merchant": "商户收单",
    "other": "其他持牌或登记主体",
}
LEAD_SOURCES = {"model": "资金异动监测模型", "manual": "人工录入"}
SUBJECT_KINDS = {"PERSON": "个人", "ORG": "单位"}

# Disposition ledger (处置台账).
DISPOSITION_TYPES = {"REGULATE": "规范整改", "ADMIN": "行政处置", "TRANSFER_POLICE": "移送公安机关"}
MEASURE_STATUSES = {"OPEN": "未完成", "DONE": "已销号"}

# `fundflow ingest`: what became of each file.
INGEST_STATUS = {"loaded": "已导入 loaded", "duplicate_file": "重复文件 duplicate", "failed": "失败 failed"}

# Ranking model training: what one example is.
TRAINING_LEVELS = {
    "account": "预警账户级，规则排序 = 账户各预警得分之和 / account level, rule ranking = sum of its alert scores",
    "ring": "线索（团伙）级，规则排序 = 团伙得分 / lead (ring) level, rule ranking = the ring's score",
}

# Campaign statistics tables (专项行动统计表), by table letter.
CAMPAIGN_TITLES = {
    "a": "打击非法集资专项行动工作情况统计表",
    "b": "风险线索排查处置情况统计表",
    "c": "跨省(自治区、直辖市)案件(风险)信息统计表",
}
CAMPAIGN_SHEETS = {"a": "工作情况统计表", "b": "风险线索排查处置情况统计表", "c": "跨省案件(风险)信息统计表"}
# Measures the campaign summary counts one by one, with the unit each is counted in.
MEASURE_COUNT_UNITS = {"WARNING_TALK": "次", "RECTIFY": "次", "STOP_ORDER": "次", "FINE": "次", "POLICE_TRANSFER": "件"}
# Where a lead stands in the procedure, as the cross-province table names it.
PROCEDURE_STAGES = {"risk": "风险", "admin": "行政", "criminal": "刑事"}

# Console lead queue: the orders a user can pick.
QUEUE_SORTS = {"score": "评分", "amount": "流入金额", "participants": "参与人数"}
# Console downloads: the title of each export.
EXPORT_TITLES = {"leads": "线索清单", "campaign": "专项行动统计表", "dossier": "线索卷宗", "transactions": "交易明细"}

# How two accounts are found to be under one control (rule C2), Chinese and English.
CONTROL_LINKS = {
    "holder_id": ("同一证件", "same ID"),
    "legal_rep": ("法定代表人", "legal representative"),
    "agent": ("代办人", "agent"),
    "phone": ("电话", "phone"),
    "device": ("设备", "device"),
    "ip": ("IP", "IP address"),
}

# Why a report line was quarantined at ingest (quarantine.reason_code), Chinese / English.
QUARANTINE_REASONS = {
    "missing_field": "缺少必填字段 / missing required field",
    "bad_time": "交易时间无法解析 / unparseable time",
    "future_time": "交易时间晚于当前时间 / time in the future",
    "bad_amount": "金额无法解析（最多两位小数） / unparseable amount (at most 2 decimals)",
    "non_positive_amount": "金额须大于零 / amount must be positive",
    "bad_direction": "收付标志无法识别 / unknown direction",
    "bad_report_kind": "报告类型无法识别 / unknown report kind",
    "bad_institution_code": "机构编码应为 1–16 位字母数字 / institution code must be 1–16 letters or digits",
    "duplicate_in_file": "同一文件中此前已有相同交易 / same transaction earlier in this file",
    "bad_csv_line": "行无法按表头拆分 / line does not fit the header",
    "numeric_identifier": "账号、证件号或电话在 Excel 中存为数字，已失真 / account, ID or phone number stored as a "
    "number in Excel, digits lost",
}

# Why a row of the hotline's tip spreadsheet was set aside.
TIP_ROW_REASONS = {
    "missing": "必填字段为空 / required field is empty",
    "bad_time": "受理时间无法解析（应为 YYYY-MM-DD HH:MM:SS 或 YYYY-MM-DD） / unreadable time",
    "future_time": "受理时间晚于当前时间 / time in the future",
    "bad_channel": f"渠道无法识别（应为 {'、'.join(TIP_CHANNELS.values())}） / unknown channel",
    "bad_number": "号码中有非数字字符 / a number holds characters other than digits",
}

# Kinds of a lead's money flows (pipelines.cases.evidence): in, inside the core, and out.
FLOW_KINDS = {
    "in_participant": "参与人转入",
    "in_other": "其他转入",
    "forward": "内部归集",
    "payout": "返还参与人",
    "commission": "支付佣金",
    "to_controller": "转给实际控制人",
    "cash_out": "取现",
    "out_other": "其他转出",
}

# Why a lead holds what it holds (ring notes and analysts' splits).
LEAD_WHY = {
    "core_to_core": "核心账户之间资金归集",
    "same_actor": "同一控制人",
    "split": "按核心账户拆分（共享第三方不合并）",
    "analyst_split": "分析员拆分",
    "founded_with_group": "同组其他模型的预警成立（拆分自同一资金网络）",
    "opened_with_group": "按同组（拆分前资金网络）的预警和金额立案",
    "collector_network": "多个归集账户把个人的款项转给核心账户（归集网络）",
}

# The auditor's 审计日志 page (console): the logs it reads, and the audit log's actions.
AUDIT_LOGS = {"audit": "审计日志", "events": "线索处理记录", "tip_events": "举报处理记录"}
AUDIT_ACTIONS = {
    "view": "查看线索",
    "unmask": "查看完整号码",
    "unmask_refused": "查看完整号码被拒",
    "export": "导出",
    "search": "检索",
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出",
    "user_add": "新增用户",
    "user_passwd": "修改密码",
    "user_disable": "停用用户",
    "user_enable": "启用用户",
    "user_role": "变更角色",
    "attachment_view": "下载附件",
    "audit_view": "查看审计日志",
    "store_copy": "线索库迁移",
    "tip_import": "导入举报",
    "reward_decide": "奖励决定",
    "reward_paid": "奖励发放",
}
CHAIN_STATUS = {"ok": "哈希链校验通过", "broken": "哈希链校验失败"}

# The console's 统计看板 (dashboard): open leads by age since they were opened.
DASHBOARD_AGES = {"d30": "30 天以内", "d90": "31–90 天", "d180": "91–180 天", "older": "180 天以上"}

# `fundflow leads split`: which part of a split keeps the lead's number.
SPLIT_PARTS = {"kept": "保留原编号", "new": "新拆出"}

SCHEME_VISIBILITY = {
    "no_reported_money": "已报送的报告中没有一笔其参与人与其账户之间的资金往来，也没有他人向其账户存入现金",
    "below_opening_amount": "已报送的报告中其账户收到的全部款项合计低于立案金额",
}
"""Why the lead backtest does not count a scheme: what the filed reports lack (pipelines/evaluation/lead_backtest)."""
