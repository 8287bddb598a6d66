"""Check characters of Chinese identity codes (DOMAIN §5): 18-digit resident IDs, unified social
credit codes, and the Luhn check of bank-card numbers.

The warehouse checks the same rules in SQL (macros in `warehouse.py`); this module is the reference the
generator builds valid codes with, and the tests compare the two.
"""

from __future__ import annotations

from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id_check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11]


def is_valid_resident_id(id_no: str) -> bool:
    """18-digit resident ID: digits, a real birth date, and the right check character."""
    if len(id_no) != 18 or not id_no[:17].isdigit():
        return False
    if resident_id_birth(id_no) is None:
        return False
    return id_no[17].upper() == resident_id_check_char(id_no[:17])


def resident_id_birth(id_no: str) -> date | None:
    try:
        return date(int(id_no[6:10]), int(id_no[10:12]), int(id_no[12:14]))
    except ValueError:
        return None


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS))
    return USCC_CHARS[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Unified social credit code (GB 32100-2015): 18 characters of the 31-character set, right check."""
    code = code.upper()
    if len(code) != 18 or any(char not in USCC_CHARS for char in code):
        return False
    return code[17] == uscc_check_char(code[:17])


def luhn_ok(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for position, digit in enumerate(reversed(number)):
        value = int(digit)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial + digit` pass Luhn."""
    for digit in "0123456789":
        if luhn_ok(partial + digit):
            return digit
    raise AssertionError("unreachable")
