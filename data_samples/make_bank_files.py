"""Write the hand-made institution files in data_samples/bank_files/ (see data_samples/README.md).

Every row is written out below so a person can check it; this script only adds ID check characters and
renders the encodings and formats (GB18030, BOM, XLSX, XML) reproducibly. Run: `python data_samples/make_bank_files.py`.
All banks, people, companies and numbers are fictional.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl

from pipelines.idcodes import luhn_check_digit, resident_id_check_char, uscc_check_char

OUT = Path(__file__).resolve().parent / "bank_files"

BANK_A, BANK_B, BANK_C = "C1234533000011", "C2345633000022", "C3456733000033"
BANK_NAMES = {BANK_A: "示例农村商业银行", BANK_B: "示例城市商业银行", BANK_C: "示例村镇银行"}


def person_id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def credit_code(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def card(first18: str) -> str:
    return first18 + luhn_check_digit(first18)


# People (region 330782, the default county) and companies; cards pass Luhn, company accounts have 20 digits.
ZHAO = ("赵一", person_id("33078219520314001"), card("622848001234500001"))
QIAN = ("钱二", person_id("33078219580722002"), card("622848001234500002"))
SUN = ("孙三", person_id("33078219850101003"), card("622848001234500003"))
LI = ("李四", person_id("33010219790909004"), card("621700001234500004"))
ZHOU = ("周五", person_id("33078219480505005"), card("622848001234500005"))
WU = ("吴六", person_id("33078219601111006"), card("623066001234500006"))
FUND = ("示例财富投资咨询有限公司", credit_code("91330782MA2C00010"), "33078201000001234567")
TRADE = ("示例商贸有限公司", credit_code("91330782MA2D00020"), "33078203000007654321")


def write_csv(name: str, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    (OUT / name).write_bytes(text.getvalue().encode(encoding))


def large_a() -> None:
    """Bank A, LARGE, UTF-8, Chinese headers; kind and institution come from the file name."""
    header = [
        "业务标识号",
        "交易时间",
        "账号",
        "户名",
        "证件类型",
        "证件号码",
        "收付标志",
        "交易金额",
        "币种",
        "对方账号",
        "对方户名",
        "对方证件类型",
        "对方证件号码",
        "对方金融机构编码",
        "交易方式",
        "资金用途",
        "交易附言",
        "交易发生地",
        "收付款方匹配号",
    ]
    rows = [
        [
            "A20250301001",
            "2025-03-01 09:15:00",
            ZHAO[2],
            ZHAO[0],
            "身份证",
            ZHAO[1],
            "付",
            "500,000.00",
            "CNY",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            BANK_B,
            "转账",
            "投资",
            "投资款",
            "330782",
            "RPMN20250301001",
        ],
        [
            "A20250301002",
            "2025-03-01 10:02:00",
            QIAN[2],
            QIAN[0],
            "身份证",
            QIAN[1],
            "付",
            "600000.00",
            "CNY",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            BANK_B,
            "转账",
            "投资",
            "认购理财",
            "330782",
            "@N",
        ],
        [
            "A20250301003",
            "2025-03-01 14:30:00",
            ZHOU[2],
            ZHOU[0],
            "身份证",
            ZHOU[1],
            "付",
            "50000.00",
            "CNY",
            "@N",
            "@N",
            "@N",
            "@N",
            "@N",
            "现金",
            "取现",
            "",
            "330782",
            "",
        ],
        [
            "A20250301004",
            "2025-03-01 16:00:00",
            SUN[2],
            SUN[0],
            "身份证",
            SUN[1],
            "收",
            "520000.00",
            "CNY",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            BANK_B,
            "转账",
            "返利",
            "分红",
            "330782",
            "",
        ],
    ]
    write_csv(f"{BANK_A}_20250301_LARGE.csv", header, rows)


def large_b_bom() -> None:
    """Bank B, BH, UTF-8 with BOM, report-code headers, TSDR 01/02 and compact times: the other legs."""
    header = [
        "TICD",
        "TSTM",
        "CTAC",
        "CTNM",
        "CITP",
        "CTID",
        "TSDR",
        "CRAT",
        "CRTP",
        "TCAC",
        "TCNM",
        "TCIT",
        "TCID",
        "CFIC",
        "TSTP",
        "CRPP",
        "ROTF",
        "TRCD",
        "RPMN",
    ]
    rows = [
        [
            "B0301-0001",
            "20250301091500",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            "01",
            "500000.00",
            "CNY",
            ZHAO[2],
            ZHAO[0],
            "身份证",
            ZHAO[1],
            BANK_A,
            "转账",
            "投资",
            "投资款",
            "330782",
            "RPMN20250301001",
        ],
        [
            "B0301-0002",
            "20250301100500",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            "01",
            "600000.00",
            "CNY",
            QIAN[2],
            QIAN[0],
            "身份证",
            QIAN[1],
            BANK_A,
            "转账",
            "投资",
            "认购理财",
            "330782",
            "@N",
        ],
        [
            "B0301-0003",
            "20250301113000",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            "02",
            "2000000.00",
            "CNY",
            TRADE[2],
            TRADE[0],
            "统一社会信用代码",
            TRADE[1],
            BANK_C,
            "网银",
            "货款",
            "往来款",
            "330782",
            "@N",
        ],
    ]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    (OUT / f"{BANK_B}_20250301_BH.csv").write_bytes(text.getvalue().encode("utf-8-sig"))


def suspicious_c_gb18030() -> None:
    """Bank C, SUSPICIOUS, GB18030, Chinese headers, slash dates, suspicion fields, memo keywords."""
    header = [
        "业务标识号",
        "交易时间",
        "账号",
        "户名",
        "证件类型",
        "证件号码",
        "收付标志",
        "交易金额",
        "对方账号",
        "对方户名",
        "对方证件号码",
        "交易方式",
        "交易附言",
        "可疑交易特征代码",
        "资金交易及客户行为情况",
    ]
    rows = [
        [
            "C0302001",
            "2025/03/02 09:00:00",
            WU[2],
            WU[0],
            "身份证",
            WU[1],
            "付",
            "50000",
            FUND[2],
            FUND[0],
            FUND[1],
            "网银",
            "高息理财 月息2分",
            "SC0101",
            "老年客户短期内多次向同一公司转账，附言含高息字样",
        ],
        [
            "C0302002",
            "2025/03/02 09:40:00",
            LI[2],
            LI[0],
            "身份证",
            LI[1],
            "付",
            "30000",
            FUND[2],
            FUND[0],
            FUND[1],
            "手机银行",
            "保本理财",
            "SC0101",
            "个人向投资咨询公司转账，附言含保本字样",
        ],
        [
            "C0302003",
            "2025/03/02 15:10:00",
            WU[2],
            WU[0],
            "身份证",
            WU[1],
            "收",
            "1000",
            FUND[2],
            FUND[0],
            FUND[1],
            "网银",
            "利息",
            "SC0102",
            "公司向个人定期小额付款，附言为利息",
        ],
    ]
    write_csv(f"{BANK_C}_20250302_SUSPICIOUS.csv", header, rows, encoding="gb18030")


def suspicious_a_xlsx() -> None:
    """Bank A, XLSX with canonical English headers, typed cells (datetime, numbers), kind and institution columns."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "可疑交易"
    sheet.append(
        [
            "report_kind",
            "institution_code",
            "txn_ref",
            "txn_time",
            "account_no",
            "account_name",
            "customer_id_type",
            "customer_id_no",
            "direction",
            "amount",
            "currency",
            "counterparty_account_no",
            "counterparty_name",
            "counterparty_id_no",
            "method",
            "memo",
            "suspicion_code",
        ]
    )
    sheet.append(
        [
            "SUSPICIOUS",
            BANK_A,
            "A20250305001",
            datetime(2025, 3, 5, 10, 20),
            ZHAO[2],
            ZHAO[0],
            "身份证",
            ZHAO[1],
            "OUT",
            100000,
            "CNY",
            FUND[2],
            FUND[0],
            FUND[1],
            "ONLINE",
            "保本高息",
            "SC0101",
        ]
    )
    sheet.append(
        [
            "SUSPICIOUS",
            BANK_A,
            "A20250305002",
            datetime(2025, 3, 5, 11, 45),
            ZHOU[2],
            ZHOU[0],
            "身份证",
            ZHOU[1],
            "OUT",
            80000.5,
            "CNY",
            FUND[2],
            FUND[0],
            FUND[1],
            "TRANSFER",
            "投资",
            "SC0101",
        ]
    )
    workbook.properties.created = workbook.properties.modified = datetime(2025, 3, 5)
    buffer = io.BytesIO()
    workbook.save(buffer)
    # Same bytes on every run: the zip entries get a fixed time instead of now.
    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(OUT / f"{BANK_A}_20250305_可疑.xlsx", "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(2025, 3, 5, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-03-05T00:00:00Z", data)
            target.writestr(fixed, data)


def large_b_xml_flat() -> None:
    """Bank B, BH XML in the generator's flat shape: every field code directly under TSDT."""
    records = [
        {
            "TICD": "B0303-0001",
            "TSTM": "20250303093000",
            "CTAC": FUND[2],
            "CTNM": FUND[0],
            "CITP": "统一社会信用代码",
            "CTID": FUND[1],
            "TSDR": "02",
            "CRAT": "2500000.00",
            "CRTP": "CNY",
            "TCAC": TRADE[2],
            "TCNM": TRADE[0],
            "TCIT": "统一社会信用代码",
            "TCID": TRADE[1],
            "CFIC": BANK_C,
            "TSTP": "转账",
            "CRPP": "货款",
            "TRCD": "330782",
            "RPMN": "@N",
            "ROTF": ["往来款", "第二笔"],
        },
        {
            "TICD": "B0303-0002",
            "TSTM": "20250303160000",
            "CTAC": FUND[2],
            "CTNM": FUND[0],
            "CITP": "统一社会信用代码",
            "CTID": FUND[1],
            "TSDR": "01",
            "CRAT": "700000.00",
            "CRTP": "CNY",
            "TCAC": SUN[2],
            "TCNM": SUN[0],
            "TCIT": "身份证",
            "TCID": SUN[1],
            "CFIC": BANK_A,
            "TSTP": "转账",
            "CRPP": "投资",
            "TRCD": "330782",
            "RPMN": "@N",
            "ROTF": ["入股"],
        },
    ]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<PHTR>",
        f"  <RBIF><RICD>{BANK_B}</RICD><RINM>{BANK_NAMES[BANK_B]}</RINM></RBIF>",
        "  <TSDTs>",
    ]
    for seqno, record in enumerate(records, start=1):
        lines.append(f'    <TSDT seqno="{seqno}">')
        for code, value in record.items():
            if code == "ROTF":
                remarks = "".join(f'<ROTF seqno="{n}">{text}</ROTF>' for n, text in enumerate(value, start=1))
                lines.append(f"      <ROTFs>{remarks}</ROTFs>")
            else:
                lines.append(f"      <{code}>{value}</{code}>")
        lines.append("    </TSDT>")
    lines += ["  </TSDTs>", "</PHTR>", ""]
    (OUT / "bank_b_bh_flat.xml").write_text("\n".join(lines), encoding="utf-8")


def suspicious_c_xml_nested() -> None:
    """Bank C, BS XML with nested blocks: header and customer fields apply to every transaction beneath."""
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<PSTR>
  <RBIF><RICD>{BANK_C}</RICD><RINM>{BANK_NAMES[BANK_C]}</RINM><STCR>SC0101</STCR></RBIF>
  <CTIFs>
    <CTIF seqno="1">
      <CTNM>{WU[0]}</CTNM><CITP>身份证</CITP><CTID>{WU[1]}</CTID><CCTL>13900000006</CCTL>
      <ATIFs>
        <ATIF seqno="1">
          <CTAC>{WU[2]}</CTAC><OATM>20240105</OATM>
          <TSDTs>
            <TSDT seqno="1">
              <TICD>C0304001</TICD><TSTM>2025-03-04 09:05:00</TSTM><TSDR>02</TSDR><CRAT>20000.00</CRAT>
              <CRTP>CNY</CRTP><TCAC>{FUND[2]}</TCAC><TCNM>{FUND[0]}</TCNM><TCID>{FUND[1]}</TCID>
              <TSTP>网银</TSTP><ROTFs><ROTF seqno="1">理财</ROTF><ROTF seqno="2">月息2分</ROTF></ROTFs>
            </TSDT>
            <TSDT seqno="2">
              <TICD>C0304002</TICD><TSTM>2025-03-04 15:30:00</TSTM><TSDR>01</TSDR><CRAT>400.00</CRAT>
              <CRTP>CNY</CRTP><TCAC>{FUND[2]}</TCAC><TCNM>{FUND[0]}</TCNM><TCID>{FUND[1]}</TCID>
              <TSTP>网银</TSTP><ROTFs><ROTF seqno="1">利息</ROTF></ROTFs>
            </TSDT>
          </TSDTs>
        </ATIF>
      </ATIFs>
    </CTIF>
    <CTIF seqno="2">
      <CTNM>{LI[0]}</CTNM><CITP>身份证</CITP><CTID>{LI[1]}</CTID>
      <ATIFs>
        <ATIF seqno="1">
          <CTAC>{LI[2]}</CTAC>
          <TSDTs>
            <TSDT seqno="1">
              <TICD>C0304003</TICD><TSTM>2025-03-04 10:00:00</TSTM><TSDR>02</TSDR><CRAT>15000.00</CRAT>
              <CRTP>CNY</CRTP><TCAC>{FUND[2]}</TCAC><TCNM>{FUND[0]}</TCNM><TCID>{FUND[1]}</TCID>
              <TSTP>手机银行</TSTP><STCR>SC0103</STCR><ROTFs><ROTF seqno="1">保本</ROTF></ROTFs>
            </TSDT>
          </TSDTs>
        </ATIF>
      </ATIFs>
    </CTIF>
  </CTIFs>
</PSTR>
"""
    (OUT / "bank_c_bs_nested.xml").write_text(xml, encoding="utf-8")


def resubmission_a() -> None:
    """Bank A corrects one row of 20250301 (amount 520,000 → 502,000) and repeats another unchanged."""
    header = [
        "业务标识号",
        "交易时间",
        "账号",
        "户名",
        "证件类型",
        "证件号码",
        "收付标志",
        "交易金额",
        "币种",
        "对方账号",
        "对方户名",
        "对方证件类型",
        "对方证件号码",
        "对方金融机构编码",
        "交易方式",
        "资金用途",
        "交易附言",
        "交易发生地",
        "收付款方匹配号",
    ]
    rows = [
        [
            "A20250301003",
            "2025-03-01 14:30:00",
            ZHOU[2],
            ZHOU[0],
            "身份证",
            ZHOU[1],
            "付",
            "50000.00",
            "CNY",
            "@N",
            "@N",
            "@N",
            "@N",
            "@N",
            "现金",
            "取现",
            "",
            "330782",
            "",
        ],
        [
            "A20250301004",
            "2025-03-01 16:00:00",
            SUN[2],
            SUN[0],
            "身份证",
            SUN[1],
            "收",
            "502000.00",
            "CNY",
            FUND[2],
            FUND[0],
            "统一社会信用代码",
            FUND[1],
            BANK_B,
            "转账",
            "返利",
            "分红",
            "330782",
            "",
        ],
    ]
    write_csv(f"{BANK_A}_20250310_resubmit_LARGE.csv", header, rows)


def bad_rows_c() -> None:
    """Bank C, one row per kind of hard error between good rows (three of which carry soft warnings)."""
    header = [
        "report_kind",
        "institution_code",
        "txn_ref",
        "txn_time",
        "account_no",
        "account_name",
        "customer_id_type",
        "customer_id_no",
        "direction",
        "amount",
        "currency",
        "counterparty_account_no",
        "counterparty_name",
        "method",
        "memo",
    ]
    bad_check = ZHOU[1][:17] + ("0" if ZHOU[1][17] != "0" else "1")
    bad_card = ZHOU[2][:18] + str((int(ZHOU[2][18]) + 1) % 10)

    def row(
        ref,
        time="2025-03-12 10:00:00",
        account=ZHOU[2],
        name=ZHOU[0],
        id_no=ZHOU[1],
        direction="OUT",
        amount="1000.00",
        currency="CNY",
        kind="LARGE",
        institution=BANK_C,
    ):
        return [
            kind,
            institution,
            ref,
            time,
            account,
            name,
            "身份证",
            id_no,
            direction,
            amount,
            currency,
            FUND[2],
            FUND[0],
            "TRANSFER",
            "测试",
        ]

    rows = [
        row("C0312-01", id_no=bad_check),  # row 2: good, warning bad_id_checksum
        row("C0312-02", currency="ZZZ"),  # row 3: good, warning unknown_currency
        row("C0312-03", account=bad_card),  # row 4: good, warning bad_card_luhn
        row("C0312-04", name=""),  # row 5: missing_field account_name
        row("C0312-05", time="2025-13-45 10:00:00"),  # row 6: bad_time
        row("C0312-06", time="2099-01-01 00:00:00"),  # row 7: future_time
        row("C0312-07", amount="12.345"),  # row 8: bad_amount
        row("C0312-08", amount="0.00"),  # row 9: non_positive_amount
        row("C0312-09", direction="SIDEWAYS"),  # row 10: bad_direction
        row("C0312-10", kind="MONTHLY"),  # row 11: bad_report_kind
        row("C0312-11", institution="C3456733000033-01"),  # row 12: bad_institution_code
        row("C0312-01", id_no=bad_check, amount="2000.00"),  # row 13: duplicate_in_file (same key as row 2)
        row("C0312-12") + ["多出的一列"],  # row 14: bad_csv_line (one field too many)
        row("C0312-13"),  # row 15: good
    ]
    write_csv(f"{BANK_C}_20250312_bad_rows_LARGE.csv", header, rows)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    for make in (
        large_a,
        large_b_bom,
        suspicious_c_gb18030,
        suspicious_a_xlsx,
        large_b_xml_flat,
        suspicious_c_xml_nested,
        resubmission_a,
        bad_rows_c,
    ):
        make()
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")


if __name__ == "__main__":
    main()
