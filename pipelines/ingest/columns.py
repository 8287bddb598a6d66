"""The one alias table of the institution-file contract (DESIGN §3).

A column in a CSV or XLSX file may be headed by its canonical name, its Chinese label, or its four-letter
report code; XML elements use the report codes. `canonical_name()` maps any of them to the canonical name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    label_zh: str
    codes: tuple[str, ...]
    required: bool
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("report_kind", "报告类型", (), True, ("报告种类",)),
    Column("institution_code", "报告机构编码", ("RICD",), True, ("机构编码",)),
    Column("txn_ref", "业务标识号", ("TICD",), True, ("交易流水号", "流水号")),
    Column("txn_time", "交易时间", ("TSTM",), True, ("交易日期时间",)),
    Column("account_no", "账号", ("CTAC",), True, ("客户账号", "交易账号")),
    Column("account_name", "户名", ("CTNM",), True, ("客户名称", "账户名称")),
    Column("customer_id_type", "证件类型", ("CITP",), False, ("客户证件类型",)),
    Column("customer_id_no", "证件号码", ("CTID",), False, ("客户证件号码",)),
    Column("direction", "收付标志", ("TSDR",), True, ("资金收付标志", "借贷标志")),
    Column("amount", "交易金额", ("CRAT",), True, ()),
    Column("currency", "币种", ("CRTP",), False, ()),
    Column("counterparty_account_no", "对方账号", ("TCAC",), False, ("交易对手账号",)),
    Column("counterparty_name", "对方户名", ("TCNM",), False, ("交易对手名称", "对方名称")),
    Column("counterparty_id_type", "对方证件类型", ("TCIT",), False, ("交易对手证件类型",)),
    Column("counterparty_id_no", "对方证件号码", ("TCID",), False, ("交易对手证件号码",)),
    Column("counterparty_institution", "对方金融机构编码", ("CFIC",), False, ("对方行号",)),
    Column("method", "交易方式", ("TSTP",), False, ()),
    Column("purpose", "资金用途", ("CRPP", "CRSP"), False, ("资金来源和用途",)),
    Column("memo", "交易附言", ("ROTF",), False, ("附言", "摘要", "交易信息备注")),
    Column("place_code", "交易发生地", ("TRCD",), False, ()),
    Column("match_no", "收付款方匹配号", ("RPMN",), False, ("匹配号",)),
    Column("account_opened", "开户时间", ("OATM",), False, ("开户日期",)),
    Column("suspicion_code", "可疑交易特征代码", ("STCR",), False, ()),
    Column("suspicion_text", "资金交易及客户行为情况", ("STCB",), False, ()),
    # Optional extensions for actor resolution (T9); reported where the bank has them.
    Column("customer_phone", "联系电话", ("CCTL",), False, ("客户联系电话",)),
    Column("legal_rep_id_no", "法定代表人证件号码", ("CRID",), False, ()),
    Column("agent_id_no", "代办人证件号码", ("TBID",), False, ()),
    Column("customer_occupation", "职业或行业", ("CTVC",), False, ("职业", "行业")),
    Column("channel", "非柜台交易方式", ("OCTT",), False, ("交易渠道",)),
    Column("ip_address", "IP地址", ("CTIP",), False, ()),
    Column("device_code", "设备代码", ("OCEC",), False, ("设备号",)),
)

CANONICAL = tuple(column.name for column in COLUMNS)
REQUIRED = tuple(column.name for column in COLUMNS if column.required)
BY_NAME = {column.name: column for column in COLUMNS}


def _build_alias_map() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for column in COLUMNS:
        for alias in (column.name, column.label_zh, *column.codes, *column.aliases):
            key = normalise_header(alias)
            if key in mapping and mapping[key] != column.name:
                raise AssertionError(f"alias '{alias}' names both {mapping[key]} and {column.name}")
            mapping[key] = column.name
    return mapping


def normalise_header(text: str) -> str:
    """Header cells differ in case, spaces and full-width punctuation; compare them without those."""
    return "".join(text.replace("\ufeff", "").split()).replace("（", "(").replace("）", ")").lower()


ALIASES = _build_alias_map()


def canonical_name(header: str) -> str | None:
    return ALIASES.get(normalise_header(header))


# Value vocabularies: what a bank may write, mapped to the canonical value.
REPORT_KINDS = {
    "LARGE": "LARGE",
    "BH": "LARGE",
    "大额": "LARGE",
    "SUSPICIOUS": "SUSPICIOUS",
    "BS": "SUSPICIOUS",
    "可疑": "SUSPICIOUS",
}
DIRECTIONS = {
    "IN": "IN",
    "01": "IN",
    "1": "IN",
    "收": "IN",
    "贷": "IN",
    "C": "IN",
    "CR": "IN",
    "收入": "IN",
    "OUT": "OUT",
    "02": "OUT",
    "2": "OUT",
    "付": "OUT",
    "借": "OUT",
    "D": "OUT",
    "DR": "OUT",
    "支出": "OUT",
}
METHODS = {
    "CASH": "CASH",
    "现金": "CASH",
    "TRANSFER": "TRANSFER",
    "转账": "TRANSFER",
    "ONLINE": "ONLINE",
    "网银": "ONLINE",
    "手机银行": "ONLINE",
    "网银/手机银行": "ONLINE",
    "网上银行": "ONLINE",
    "POS": "POS",
    "ATM": "ATM",
    "CROSS_BORDER": "CROSS_BORDER",
    "跨境": "CROSS_BORDER",
    "OTHER": "OTHER",
    "其他": "OTHER",
}
METHOD_VALUES = ("CASH", "TRANSFER", "ONLINE", "POS", "ATM", "CROSS_BORDER", "OTHER")
EMPTY_MARK = "@N"
