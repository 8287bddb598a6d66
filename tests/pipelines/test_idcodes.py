"""The Python reference checks and the warehouse's SQL macros agree on every code."""

import random

import pytest

from pipelines import idcodes
from pipelines.warehouse.db import connect_memory

CASES = [
    "11010519491231002X",  # valid resident ID (DOMAIN §5.1)
    "110105194912310021",  # wrong check character
    "11010519491331002X",  # month 13
    "91350100M000100Y43",  # valid credit code (DOMAIN §5.2)
    "91110000100003057A",
    "91110000100003057B",
    "6222021234567890128",  # Luhn passes (DOMAIN §5.3)
    "6222021234567890127",
    "",
    "abc",
]


@pytest.mark.parametrize("code", CASES)
def test_sql_macros_agree_with_reference(code):
    con = connect_memory()
    sql_id, sql_uscc, sql_luhn = con.execute("SELECT id18_ok($c), uscc_ok($c), luhn_ok($c)", {"c": code}).fetchone()
    assert sql_id == idcodes.is_valid_resident_id(code)
    assert sql_uscc == idcodes.is_valid_uscc(code)
    assert sql_luhn == (len(code) >= 12 and idcodes.luhn_ok(code))


def test_known_codes():
    assert idcodes.is_valid_resident_id("11010519491231002X")
    assert not idcodes.is_valid_resident_id("110105194912310021")
    assert idcodes.is_valid_uscc("91350100M000100Y43")
    assert idcodes.luhn_ok("6222021234567890128")
    first17 = "91110000100003057"
    assert idcodes.is_valid_uscc(first17 + idcodes.uscc_check_char(first17))


def test_party_facts_from_id():
    con = connect_memory()
    kind, region, birth = con.execute(
        "SELECT party_kind(NULL, '11010519491231002X'), party_region('11010519491231002X'),"
        " id18_birth('11010519491231002X')"
    ).fetchone()
    assert (kind, region, str(birth)) == ("PERSON", "110105", "1949-12-31")
    assert con.execute(
        "SELECT party_kind(NULL, '91350100M000100Y43'), party_region('91350100M000100Y43')"
    ).fetchone() == ("ORG", "350100")


def test_sql_luhn_agrees_on_every_length_and_edge():
    """The SQL Luhn check works on the number as an integer: leading zeros, 19 nines and valid cards included."""
    rng = random.Random(7)
    numbers = ["9" * 19, "0" * 12, "0000000000000000018"]
    for length in range(12, 20):
        for _ in range(150):
            numbers.append("".join(rng.choice("0123456789") for _ in range(length)))
        partial = "".join(rng.choice("0123456789") for _ in range(length - 1))
        numbers.append(partial + idcodes.luhn_check_digit(partial))
    con = connect_memory()
    sql = dict(con.execute("SELECT n, luhn_ok(n) FROM unnest($numbers) AS t(n)", {"numbers": numbers}).fetchall())
    assert {n: idcodes.luhn_ok(n) for n in numbers} == sql
    assert sum(sql.values()) >= 8
