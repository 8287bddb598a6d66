from pipelines.masking import mask_account, mask_id, mask_name, mask_phone


def test_masks_keep_only_the_allowed_ends():
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_account("6222021234567890128") == "622202*********0128"
    assert mask_phone("13812341234") == "138****1234"
    assert mask_name("张三") == "张*"
    assert mask_name("张小明") == "张*明"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_name("示例商贸有限公司") == "示例商贸有限公司"


def test_short_and_empty_values_never_leak_whole():
    assert mask_account("") == ""
    assert mask_account("12345") != "12345"
    assert mask_id(None) == ""
