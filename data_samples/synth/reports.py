"""Payments → report lines → institution files (DESIGN §3), in each bank's own habits.

A payment between two accounts at reporting banks becomes an OUT line at the payer's bank and an IN line at
the payee's; most share a matching number, the rest differ in time by up to three minutes. `realistic`
reporting keeps what Art. 5 makes banks file (DOMAIN §1.1) plus full statements of flagged accounts.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import polars as pl

from data_samples.synth import batch as b
from data_samples.synth.county import County
from pipelines.ingest.columns import BY_NAME

CASH_THRESHOLD = 5_000_000  # cents: ¥50,000
ORG_TRANSFER_THRESHOLD = 200_000_000
PERSON_TRANSFER_THRESHOLD = 50_000_000
MATCHED_SHARE = 0.85
IN, OUT = 0, 1
EXTENSIONS = ("customer_phone", "legal_rep_id_no", "agent_id_no", "customer_occupation", "channel")
CHANNELS = ("柜面", "柜面", "手机银行", "POS", "ATM")
METHODS_ZH = ("现金", "转账", "手机银行", "POS", "ATM")


@dataclass(frozen=True)
class Style:
    """How one bank writes its files: the vocabulary varies, the contract does not."""

    directions: tuple[str, str]
    chinese_methods: bool
    id_types: tuple[str, str]
    empty: str
    extended: bool
    kind_columns: bool


STYLES = (
    Style(("IN", "OUT"), False, ("居民身份证", "统一社会信用代码"), "", True, True),
    Style(("01", "02"), False, ("110001", "610099"), "@N", True, True),
    Style(("收", "付"), True, ("居民身份证", "统一社会信用代码"), "", True, True),
    Style(("C", "D"), False, ("110001", "610099"), "", False, True),
    Style(("贷", "借"), True, ("居民身份证", "统一社会信用代码"), "@N", False, False),
    Style(("IN", "OUT"), False, ("居民身份证", "统一社会信用代码"), "", True, True),
)
XML_STYLE = Style(("01", "02"), False, ("110001", "610099"), "@N", True, True)


def order_payments(payments: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """By time; a stable sort keeps the (deterministic) generation order among equal times."""
    when = payments["day"].astype(np.int64) * 86400 + payments["sec"]
    return b.select(payments, np.argsort(when, kind="stable"))


def make_legs(
    county: County, payments: dict[str, np.ndarray], first_serial: int, rng: np.random.Generator
) -> pl.DataFrame:
    """One row per report line: the payer bank's OUT line and the payee bank's IN line of each payment."""
    reporting = county.reporting()
    payer, payee = payments["payer"], payments["payee"]
    n = len(payer)
    serial = first_serial + np.arange(n, dtype=np.int64)
    out_side = (payer >= 0) & reporting[county.acct_bank[np.maximum(payer, 0)]]
    in_side = (payee >= 0) & reporting[county.acct_bank[np.maximum(payee, 0)]]
    two_legs = out_side & in_side
    matched = two_legs & (rng.random(n) < MATCHED_SHARE)
    when = payments["day"].astype(np.int64) * 86400 + payments["sec"]
    # unmatched IN lines are booked up to three minutes later, never past midnight
    delay = np.where(two_legs & ~matched, np.minimum(rng.integers(0, 181, size=n), 86399 - payments["sec"]), 0)

    def side(mask, account, counterparty, direction, time):
        return pl.DataFrame(
            {
                "bank": county.acct_bank[account[mask]].astype(np.int32),
                "acct": account[mask],
                "cp": counterparty[mask],
                "dir": np.full(mask.sum(), direction, np.int8),
                "t": time[mask],
                "serial": serial[mask],
                "cents": payments["cents"][mask],
                "method": payments["method"][mask],
                "memo": payments["memo"][mask],
                "agent": payments["agent"][mask],
                "matched": matched[mask],
            }
        )

    legs = pl.concat([side(out_side, payer, payee, OUT, when), side(in_side, payee, payer, IN, when + delay)])
    return legs.with_columns(day=pl.col("t") // 86400).sort(["bank", "t", "serial", "dir"])


def large_value_lines(county: County, legs: pl.DataFrame) -> pl.Series:
    """Art. 5: a side of a customer's day is reported when its cumulative cash, or transfers, reach the bar."""
    is_org = pl.lit(pl.Series(county.acct_is_org[legs["acct"].to_numpy()]))
    cash = pl.col("cp") < 0
    threshold = (
        pl.when(cash)
        .then(CASH_THRESHOLD)
        .when(is_org)
        .then(ORG_TRANSFER_THRESHOLD)
        .otherwise(PERSON_TRANSFER_THRESHOLD)
    )
    return legs.select(
        (pl.col("cents").sum().over(["acct", "day", "dir", cash.alias("cash")]) >= threshold).alias("large")
    ).to_series()


class Clock:
    """Report-time strings by lookup: one table of dates and one of times of day (fast, unlike strftime)."""

    def __init__(self, county: County):
        first = county.start.toordinal()
        self.dates = pl.Series([date.fromordinal(first + day).isoformat() + " " for day in range(county.days + 1)])
        seconds = pl.Series(np.arange(86400))

        def two_digits(values: pl.Series) -> pl.Series:
            return values.cast(pl.String).str.zfill(2)

        self.times = two_digits(seconds // 3600) + ":" + two_digits(seconds // 60 % 60) + ":" + two_digits(seconds % 60)

    def format(self, t: pl.Series) -> pl.Series:
        return self.dates.gather(t // 86400) + self.times.gather(t % 86400)


def report_frame(
    county: County,
    clock: Clock,
    bank_index: int,
    style: Style,
    kind: str,
    legs: pl.DataFrame,
    suspicion: dict[int, tuple[str, str]] | None,
) -> pl.DataFrame:
    """The canonical columns of one file, as strings in canonical order; empty fields are null."""
    table = county.acct_table
    sentinel = len(table) - 1
    bank = county.banks[bank_index]
    n = legs.height
    acct = legs["acct"].to_numpy()
    cp = legs["cp"].to_numpy()
    cash = cp < 0
    cp_row = np.where(cash, sentinel, cp)
    method = legs["method"].cast(pl.Int64)
    is_org = county.acct_is_org[acct].astype(np.int64)
    cp_kind = np.where(cash, 2, county.acct_is_org[np.maximum(cp, 0)])
    serial = legs["serial"]
    cents = legs["cents"]

    def constant(value):
        return pl.repeat(value, n, dtype=pl.String, eager=True)

    columns = {
        "report_kind": constant(kind),
        "institution_code": constant(bank.code),
        "txn_ref": bank.code[1:5] + (serial * 2 + legs["dir"]).cast(pl.String).str.zfill(13),
        "txn_time": clock.format(legs["t"]),
        "account_no": table["account_no"].gather(acct),
        "account_name": table["name"].gather(acct),
        "customer_id_type": pl.Series(style.id_types).gather(is_org),
        "customer_id_no": table["id_no"].gather(acct),
        "direction": pl.Series(style.directions).gather(legs["dir"].cast(pl.Int64)),
        "amount": (cents // 100).cast(pl.String) + "." + (cents % 100).cast(pl.String).str.zfill(2),
        "currency": constant("CNY"),
        "counterparty_account_no": table["account_no"].gather(cp_row),
        "counterparty_name": table["name"].gather(cp_row),
        "counterparty_id_type": pl.Series([*style.id_types, None]).gather(cp_kind),
        "counterparty_id_no": table["id_no"].gather(cp_row),
        "counterparty_institution": table["cnaps"].gather(cp_row),
        "method": pl.Series(METHODS_ZH if style.chinese_methods else b.METHODS).gather(method),
        "purpose": constant(None),
        "memo": pl.Series([None, *b.MEMOS[1:]]).gather(legs["memo"].cast(pl.Int64)),
        "place_code": constant(county.county_code),
        "match_no": pl.select(pl.when(legs["matched"]).then("RP" + serial.cast(pl.String).str.zfill(14))).to_series(),
        "account_opened": table["opened"].gather(acct),
    }
    if suspicion is not None:
        codes = {account: value[0] for account, value in suspicion.items()}
        texts = {account: value[1] for account, value in suspicion.items()}
        columns["suspicion_code"] = legs["acct"].replace_strict(codes, default=None, return_dtype=pl.String)
        columns["suspicion_text"] = legs["acct"].replace_strict(texts, default=None, return_dtype=pl.String)
    if style.extended:
        agent = legs["agent"].to_numpy()
        person_ids = county.person_id.append(pl.Series([None], dtype=pl.String))
        columns["customer_phone"] = table["phone"].gather(acct)
        columns["legal_rep_id_no"] = table["legal_rep_id_no"].gather(acct)
        columns["agent_id_no"] = person_ids.gather(np.where(agent < 0, len(person_ids) - 1, agent))
        columns["customer_occupation"] = table["occupation"].gather(acct)
        columns["channel"] = pl.Series(CHANNELS).gather(method)
    frame = pl.DataFrame(columns)
    if not style.kind_columns:
        frame = frame.drop("report_kind", "institution_code")
    if style.empty:
        frame = frame.with_columns(
            pl.col(name).fill_null(style.empty)
            for name in (
                "counterparty_account_no",
                "counterparty_name",
                "counterparty_id_type",
                "counterparty_id_no",
                "counterparty_institution",
                "memo",
                "match_no",
            )
        )
    return frame


def write_csv(frame: pl.DataFrame, path: Path, encoding: str) -> None:
    if encoding == "utf-8":
        frame.write_csv(path)
        return
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    path.write_bytes(buffer.getvalue().decode("utf-8").encode(encoding))


def write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    """Chinese labels as headers; amounts as numbers; timestamps fixed so the same data gives the same bytes."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("交易明细")
    sheet.append([BY_NAME[name].label_zh for name in frame.columns])
    amount_at = frame.columns.index("amount")
    for row in frame.iter_rows():
        cells = list(row)
        cells[amount_at] = float(cells[amount_at])
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    normalise_zip(buffer.getvalue(), path)


def normalise_zip(data: bytes, path: Path) -> None:
    """Rewrite an XLSX with fixed entry dates and document-property times."""
    source = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                text = content.decode("utf-8")
                for tag in ("dcterms:created", "dcterms:modified"):
                    begin = text.find(f"<{tag}")
                    if begin >= 0:
                        close = text.find(f"</{tag}>", begin)
                        opening_end = text.find(">", begin) + 1
                        text = text[:opening_end] + "2025-01-01T00:00:00Z" + text[close:]
                content = text.encode("utf-8")
            info = zipfile.ZipInfo(item.filename, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, content)


def write_xml(frame: pl.DataFrame, path: Path, kind: str, bank_code: str, bank_name: str) -> None:
    """BH (PHTR) or BS (PSTR) message: header, then one TSDT per line with every field by its report code."""
    pieces = []
    for name in frame.columns:
        if name in ("report_kind", "institution_code"):
            continue
        value = pl.col(name).fill_null("@N")
        if name == "memo":
            pieces += [pl.lit('<ROTFs><ROTF seqno="1">'), value, pl.lit("</ROTF></ROTFs>")]
        else:
            code = BY_NAME[name].codes[0]
            pieces += [pl.lit(f"<{code}>"), value, pl.lit(f"</{code}>")]
    escaped = frame.with_columns(
        pl.col(pl.String)
        .str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )
    rows = (
        escaped.with_row_index("seqno", offset=1)
        .select(
            pl.concat_str(
                [pl.lit('<TSDT seqno="'), pl.col("seqno").cast(pl.String), pl.lit('">'), *pieces, pl.lit("</TSDT>")]
            )
        )
        .to_series()
    )
    root = "PHTR" if kind == "LARGE" else "PSTR"
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}><RBIF><RICD>{escape(bank_code)}</RICD>'
        f"<RINM>{escape(bank_name)}</RINM></RBIF><TSDTs>\n"
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head)
        handle.write("\n".join(rows.to_list()))
        handle.write(f"\n</TSDTs></{root}>\n")
