"""Payments as columns of numpy arrays: one row per money movement, before it becomes report lines.

Account -1 means cash (payer -1: cash paid in; payee -1: cash paid out). Memos are codes into `MEMOS`.
"""

from __future__ import annotations

import numpy as np

METHODS = ("CASH", "TRANSFER", "ONLINE", "POS", "ATM")
CASH, TRANSFER, ONLINE, POS, ATM = range(5)

MEMOS = (
    "",
    "工资",
    "代发工资",
    "奖金",
    "养老金",
    "房租",
    "电费",
    "水费",
    "燃气费",
    "生活费",
    "红包",
    "转账",
    "医疗费",
    "学费",
    "学杂费",
    "伙食费",
    "购买理财产品",
    "理财收益",
    "理财产品到期兑付",
    "货款",
    "购房款",
    "借款",
    "还款",
    "往来款",
    "服务费",
    "投资款",
    "认购",
    "入股",
    "复投",
    "利息",
    "月息",
    "收益",
    "返利",
    "分红",
    "佣金",
    "提成",
    "推广费",
    "会员费",
    "养老服务费",
    "入社股金",
    "养老补贴",
    "USDT",
    "矿机",
    "算力租赁",
    "餐费",
    "经营款",
    "理财",
    "集资",
    # look-alikes (data_samples/synth/lookalikes.py) and their disguised twins: appended, so older codes stay
    "护理费",
    "床位费",
    "农资款",
    "农产品收购款",
    "保费",
    "理赔款",
    "上划资金",
    "理财赎回",
    "资金清算",
    "刷卡消费",
    "会员卡",
    "消费返利",
    "入社存款",
    "保障金",
    "养老会员费",
)
MEMO = {text: code for code, text in enumerate(MEMOS)}

COLUMNS = ("day", "sec", "payer", "payee", "cents", "method", "memo", "agent")
DTYPES = {
    "day": np.int32,
    "sec": np.int32,
    "payer": np.int64,
    "payee": np.int64,
    "cents": np.int64,
    "method": np.int8,
    "memo": np.int16,
    "agent": np.int64,
}


def batch(day, sec, payer, payee, cents, method, memo=0, agent=-1) -> dict[str, np.ndarray]:
    """Columns broadcast to one length; scalars are repeated."""
    values = {
        "day": day,
        "sec": sec,
        "payer": payer,
        "payee": payee,
        "cents": cents,
        "method": method,
        "memo": memo,
        "agent": agent,
    }
    lengths = [np.size(value) for value in values.values() if np.ndim(value) > 0]
    n = max(lengths) if lengths else 1
    return {name: np.broadcast_to(np.asarray(value), (n,)).astype(DTYPES[name]) for name, value in values.items()}


def concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    batches = [part for part in batches if len(part["day"])]
    if not batches:
        return {name: np.zeros(0, dtype=DTYPES[name]) for name in COLUMNS}
    return {name: np.concatenate([part[name] for part in batches]) for name in COLUMNS}


def select(payments: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {name: column[mask] for name, column in payments.items()}


def memo_codes(rng: np.random.Generator, n: int, texts: tuple[str, ...], weights=None) -> np.ndarray:
    choices = np.array([MEMO[text] for text in texts], dtype=np.int16)
    return choices[rng.choice(len(texts), size=n, p=weights)]


def daytime(
    rng: np.random.Generator,
    n: int,
    centre_hour: float = 13.0,
    spread_hours: float = 3.2,
    first_hour: int = 7,
    last_hour: int = 22,
) -> np.ndarray:
    """Seconds after midnight, bunched around the middle of the day (outliers spread evenly, not piled up)."""
    seconds = rng.normal(centre_hour * 3600, spread_hours * 3600, size=n)
    outside = (seconds < first_hour * 3600) | (seconds >= last_hour * 3600)
    even = rng.uniform(first_hour * 3600, last_hour * 3600, size=n)
    return np.where(outside, even, seconds).astype(np.int32)


def night(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds between 22:00 and 06:00 (wrapping past midnight)."""
    return ((22 * 3600 + rng.integers(0, 8 * 3600, size=n)) % 86400).astype(np.int32)


def yuan(
    rng: np.random.Generator, median: float, sigma: float, n: int, low: float = 1.0, high: float = 5e6
) -> np.ndarray:
    """Log-normal amounts in cents."""
    return (np.clip(rng.lognormal(np.log(median), sigma, size=n), low, high) * 100).astype(np.int64)
