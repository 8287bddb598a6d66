"""Masking (脱敏) shows exactly the ends DOMAIN §4.3 allows: ID first 6 (region) + last 4, account or card first
6 + last 4, phone first 3 + last 4, person names 张* / 张*明; values too short to keep both ends show at most
their last 2 characters."""

import pytest

from pipelines.masking import mask_account, mask_id, mask_name, mask_phone


@pytest.mark.parametrize(
    ("mask", "value", "shown"),
    [
        (mask_id, "11010519491231002X", "110105********002X"),
        (mask_id, "110105491231002", "110105*****1002"),  # a legacy 15-digit ID
        (mask_id, "91330782MA2ABCDE1X", "913307********DE1X"),  # a credit code shown as an ID
        (mask_account, "6222021234567890128", "622202*********0128"),
        (mask_account, "6222021234567890", "622202******7890"),
        (mask_account, "62220212345", "622202*2345"),  # 11 characters: one hidden
        (mask_phone, "13812341234", "138****1234"),
        (mask_phone, "057912345678", "057*****5678"),  # a landline with its area code
        (mask_name, "张三", "张*"),
        (mask_name, "张小明", "张*明"),
        (mask_name, "欧阳小明", "欧**明"),
        (mask_name, "爱新觉罗明", "爱***明"),
        (mask_name, "示例商贸有限公司", "示例商贸有限公司"),  # an organisation is not personal data
    ],
)
def test_the_exact_masked_form(mask, value, shown):
    assert mask(value) == shown


@pytest.mark.parametrize(
    ("mask", "value", "shown"),
    [
        (mask_account, "1234567890", "********90"),  # no longer than first 6 + last 4: only the last 2
        (mask_account, "12345", "***45"),
        (mask_account, "123", "*23"),
        (mask_account, "12", "**"),
        (mask_account, "7", "*"),
        (mask_id, "3307821234", "********34"),
        (mask_phone, "1234567", "*****67"),
        (mask_phone, "110", "*10"),
        (mask_name, "张", "*"),
        (mask_account, "", ""),
        (mask_account, None, ""),
        (mask_id, None, ""),
        (mask_phone, "", ""),
        (mask_name, None, ""),
    ],
)
def test_short_and_empty_values_show_at_most_their_last_two(mask, value, shown):
    assert mask(value) == shown


@pytest.mark.parametrize(("mask", "head", "tail"), [(mask_id, 6, 4), (mask_account, 6, 4), (mask_phone, 3, 4)])
def test_every_length_keeps_only_the_allowed_ends(mask, head, tail):
    digits = "9876543210" * 3
    for length in range(1, len(digits) + 1):
        value = digits[:length]
        masked = mask(value)
        assert len(masked) == length and "*" in masked, value
        if length > head + tail:
            assert masked == value[:head] + "*" * (length - head - tail) + value[-tail:]
        else:
            visible = masked.replace("*", "")
            assert len(visible) <= 2 and value.endswith(visible), value
