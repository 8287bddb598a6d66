"""Vectorised makers of valid identity codes and names: 18-digit resident IDs, unified social credit
codes, bank-card numbers (Luhn), phone numbers and Chinese names.

The check characters follow DOMAIN §5 and agree with `pipelines.idcodes` (the tests compare them).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.idcodes import ID_CHECK_CHARS, ID_WEIGHTS, USCC_CHARS, USCC_WEIGHTS

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金贾"
)
GIVEN_CHARS = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志斌海燕鹏辉玲宇浩凯俊峰晨阳"
    "婷雪琳欣怡佳文武德福荣梅珍凤春菊云莲秋成林波飞龙庆宏良生彬涵轩睿泽"
)
BRANDS = tuple("鑫源恒达宏远金鼎华盛博瑞天成永安福满兴隆嘉禾佳美万通宝丰盈泰新锐汇通东方银河")


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative integers as an (n, width) array, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers[None, :]) % 10


def _join_chars(chars: np.ndarray) -> pl.Series:
    """(n, k) array of one-character strings → Series of k-character strings."""
    flat = np.ascontiguousarray(chars.astype("<U1"))
    return pl.Series(flat.view(f"<U{chars.shape[1]}").ravel())


def resident_ids(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> pl.Series:
    """18-digit IDs from region codes (int), birth dates (datetime64[D]) and 3-digit sequences."""
    years = birth.astype("datetime64[Y]").astype(int) + 1970
    months = birth.astype("datetime64[M]").astype(int) % 12 + 1
    days = (birth - birth.astype("datetime64[M]")).astype(int) + 1
    ymd = years * 10000 + months * 100 + days
    first17 = region.astype(np.int64) * 10**11 + ymd.astype(np.int64) * 1000 + seq.astype(np.int64)
    check = (_digits(first17, 17) @ np.array(ID_WEIGHTS)) % 11
    check_chars = np.array(list(ID_CHECK_CHARS))[check]
    return pl.Series(first17).cast(pl.String) + pl.Series(check_chars)


def org_code_check(digits8: np.ndarray) -> np.ndarray:
    """GB 11714 check character values (index into USCC_CHARS) for 8-digit organisation codes."""
    total = digits8 @ np.array([3, 7, 9, 10, 5, 8, 4, 2])
    check = 11 - total % 11
    # 10 is written X, 11 is written 0
    return np.where(check == 11, 0, np.where(check == 10, USCC_CHARS.index("X"), check))


def credit_codes(rng: np.random.Generator, kind_prefix: list[str], region: np.ndarray) -> pl.Series:
    """Unified social credit codes: 2-character authority/type prefix, region, organisation code, check."""
    n = len(kind_prefix)
    values = np.zeros((n, 18), dtype=np.int64)
    values[:, 0] = [USCC_CHARS.index(prefix[0]) for prefix in kind_prefix]
    values[:, 1] = [USCC_CHARS.index(prefix[1]) for prefix in kind_prefix]
    values[:, 2:8] = _digits(region.astype(np.int64), 6)
    values[:, 8:16] = rng.integers(0, 10, size=(n, 8))
    # a third digit of 2–9 keeps an all-digit code from also reading as a resident ID (month ≥ 20)
    values[:, 10] = rng.integers(2, 10, size=n)
    values[:, 16] = org_code_check(values[:, 8:16])
    total = values[:, :17] @ np.array(USCC_WEIGHTS)
    values[:, 17] = (31 - total % 31) % 31
    return _join_chars(np.array(list(USCC_CHARS))[values])


def card_numbers(bins: np.ndarray, serials: np.ndarray) -> pl.Series:
    """19-digit card numbers: 6-digit issuer BIN, 12-digit serial, Luhn check digit."""
    partial = np.concatenate([_digits(bins.astype(np.int64), 6), _digits(serials.astype(np.int64), 12)], axis=1)
    doubled = partial[:, ::-1].copy()
    doubled[:, 0::2] *= 2  # the rightmost digit of the partial number sits next to the check digit
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1) % 10) % 10
    return (
        pl.Series(bins.astype(np.int64)).cast(pl.String)
        + pl.Series(serials.astype(np.int64)).cast(pl.String).str.zfill(12)
        + pl.Series(check).cast(pl.String)
    )


def scramble(index: np.ndarray, modulus: int = 10**12) -> np.ndarray:
    """A bijection on [0, modulus) so serial numbers look random yet never collide."""
    return (index.astype(np.int64) * 7_919_993 + 1_234_567) % modulus


def phones(rng: np.random.Generator, n: int) -> pl.Series:
    second = np.array(list("35789"))[rng.integers(0, 5, size=n)]
    rest = rng.integers(0, 10**9, size=n)
    return "1" + pl.Series(second) + pl.Series(rest).cast(pl.String).str.zfill(9)


def person_names(rng: np.random.Generator, n: int) -> pl.Series:
    surname = pl.Series(SURNAMES).gather(rng.integers(0, len(SURNAMES), size=n))
    first = pl.Series(GIVEN_CHARS).gather(rng.integers(0, len(GIVEN_CHARS), size=n))
    second = pl.Series(GIVEN_CHARS).gather(rng.integers(0, len(GIVEN_CHARS), size=n))
    two_char_given = rng.random(n) < 0.7
    return surname + first + pl.Series(np.where(two_char_given, second.to_numpy(), ""))


def brands(rng: np.random.Generator, n: int) -> list[str]:
    picks = rng.integers(0, len(BRANDS), size=(n, 2))
    return [BRANDS[a] + BRANDS[b] for a, b in picks]
