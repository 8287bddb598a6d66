"""The synthetic county: deterministic, valid codes, both legs of a payment, ground truth that matches the
files, and legitimate look-alikes of the fundraising typologies (issue 3)."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from data_samples.generator import generate_county
from pipelines import idcodes
from pipelines.cli import main
from pipelines.ingest.columns import DIRECTIONS, METHODS

KEYWORDS = re.compile(
    "投资|理财|利息|付息|分红|返利|返息|收益|本金|本息|复投|认购|入股|股金|集资|众筹|养老|保本|保息|高息|月息|日息"
)
PERSON_ID_TYPES = ("居民身份证", "110001")


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_lines(reports_dir: Path) -> pl.DataFrame:
    """Every report line of a CSV county, with the banks' vocabularies mapped to the canonical values."""
    frames = []
    for path in sorted(reports_dir.glob("*.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        code, _, kind = path.stem.split("_")
        frames.append(frame.with_columns(file_kind=pl.lit(kind), bank=pl.lit(code)))
    lines = pl.concat(frames, how="diagonal").with_columns(pl.col(pl.String).replace("@N", None))
    return lines.with_columns(
        pl.col("direction").replace_strict(DIRECTIONS),
        pl.col("method").replace_strict(METHODS),
        cents=(pl.col("amount").cast(pl.Decimal(18, 2)) * 100).cast(pl.Int64),
        time=pl.col("txn_time").str.to_datetime("%Y-%m-%d %H:%M:%S"),
    )


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    out = tmp_path_factory.mktemp("county")
    summary = generate_county(out, persons=1500, days=60, schemes=6, seed=11)
    return out, summary, read_lines(out / "reports")


@pytest.fixture(scope="module")
def truth(county):
    out, _, _ = county
    return pl.read_csv(out / "truth" / "accounts.csv", infer_schema=False), pl.read_csv(
        out / "truth" / "schemes.csv", infer_schema=False
    )


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_county(tmp_path / name, persons=400, days=20, schemes=3, seed=seed)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")
    assert folder_digest(tmp_path / "a") != folder_digest(tmp_path / "c")


@pytest.mark.parametrize(
    "fmt,reporting,encoding",
    [("xml", "full", "utf-8"), ("xlsx", "realistic", "utf-8"), ("csv", "realistic", "gb18030")],
)
def test_every_format_is_deterministic(tmp_path, fmt, reporting, encoding):
    for name in ("a", "b"):
        generate_county(
            tmp_path / name, persons=300, days=15, schemes=2, seed=2, fmt=fmt, reporting=reporting, encoding=encoding
        )
    files = sorted((tmp_path / "a" / "reports").iterdir())
    assert files and all(path.suffix == f".{fmt}" for path in files)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")


def test_gb18030_files_decode_and_name_the_banks(tmp_path):
    generate_county(tmp_path, persons=300, days=15, schemes=1, seed=2, encoding="gb18030")
    path = sorted((tmp_path / "reports").glob("*.csv"))[0]
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "义乌" in raw.decode("gb18030")


def test_file_names_and_institution_codes(county):
    out, summary, lines = county
    names = [path.name for path in (out / "reports").iterdir()]
    assert len(names) == summary["files"] and lines.height == summary["rows"]
    assert all(re.fullmatch(r"[0-9A-Z]{1,16}_20250[1-3]_SUSPICIOUS\.csv", name) for name in names)
    assert lines["bank"].n_unique() >= 5


def test_every_id_and_credit_code_is_valid(county):
    _, _, lines = county
    for id_column, type_column in (
        ("customer_id_no", "customer_id_type"),
        ("counterparty_id_no", "counterparty_id_type"),
    ):
        pairs = lines.select(id_column, type_column).drop_nulls().unique()
        for id_no, id_type in pairs.iter_rows():
            if id_type in PERSON_ID_TYPES:
                assert idcodes.is_valid_resident_id(id_no), id_no
            else:
                assert idcodes.is_valid_uscc(id_no) and not idcodes.is_valid_resident_id(id_no), id_no
    for column in ("legal_rep_id_no", "agent_id_no"):
        assert all(idcodes.is_valid_resident_id(value) for value in lines[column].drop_nulls().unique())
    personal_cards = lines.filter(pl.col("customer_id_type").is_in(PERSON_ID_TYPES))["account_no"].unique()
    assert all(idcodes.luhn_ok(card) for card in personal_cards)


def test_ages_and_regions_look_like_a_county(county):
    _, _, lines = county
    people = lines.filter(pl.col("customer_id_type").is_in(PERSON_ID_TYPES))["customer_id_no"].unique()
    births = people.str.slice(6, 8).str.to_date("%Y%m%d")
    ages = (pl.lit(date(2025, 1, 1)) - births).dt.total_days() / 365.25
    share_elderly = pl.select((ages >= 60).mean()).item()
    assert 0.25 <= share_elderly <= 0.5
    regions = people.str.slice(0, 6)
    home = (regions == "330782").mean()
    province = (regions.str.starts_with("33") & (regions != "330782")).mean()
    elsewhere = (~regions.str.starts_with("33")).mean()
    assert home > 0.6 and province > 0.05 and elsewhere > 0.03


def test_a_payment_between_reporting_banks_has_both_legs(county):
    _, _, lines = county
    matched = lines.filter(pl.col("match_no").is_not_null())
    legs = matched.group_by("match_no").agg(pl.col("direction").sort().alias("sides"), pl.col("cents").n_unique())
    assert legs["sides"].to_list() == [["IN", "OUT"]] * legs.height
    assert (legs["cents"] == 1).all()
    transfers = lines.filter(pl.col("counterparty_account_no").is_not_null())
    unmatched_share = transfers["match_no"].is_null().mean()
    assert 0.05 < unmatched_share < 0.3
    # an unmatched IN line from a reporting bank's account has its OUT line: same accounts and amount,
    # at most three minutes earlier
    reporting_accounts = lines["account_no"].unique().implode()
    unmatched_in = transfers.filter(
        pl.col("match_no").is_null()
        & (pl.col("direction") == "IN")
        & pl.col("counterparty_account_no").is_in(reporting_accounts)
    )
    outs = transfers.filter(pl.col("match_no").is_null() & (pl.col("direction") == "OUT")).select(
        account_no="counterparty_account_no", counterparty_account_no="account_no", cents="cents", out_time="time"
    )
    paired = unmatched_in.join(outs, on=["account_no", "counterparty_account_no", "cents"]).filter(
        (pl.col("time") - pl.col("out_time")).dt.total_seconds().is_between(0, 180)
    )
    assert unmatched_in.height > 100
    assert paired.select("bank", "txn_ref", "account_no").n_unique() == unmatched_in.height


def test_look_alike_fan_in_beats_the_median_scheme_hub(county, truth):
    _, _, lines = county
    accounts, schemes = truth
    weekly = (
        lines.filter((pl.col("direction") == "IN") & pl.col("counterparty_account_no").is_not_null())
        .with_columns(week=pl.col("time").dt.truncate("7d"))
        .group_by("account_no", "week")
        .agg(pl.col("counterparty_account_no").n_unique().alias("payers"))
        .group_by("account_no")
        .agg(pl.col("payers").max())
    )
    hub_payers = weekly.filter(pl.col("account_no").is_in(schemes["hub_account"].implode()))["payers"]
    legitimate = weekly.filter(~pl.col("account_no").is_in(accounts["account_no"].implode()))
    assert legitimate["payers"].max() > hub_payers.median()
    assert (legitimate["payers"] > hub_payers.median()).sum() >= 3


def test_some_scheme_never_writes_a_keyword_memo(county, truth):
    _, _, lines = county
    accounts, schemes = truth
    silent = schemes.filter(pl.col("uses_keyword_memo") == "false")["scheme_id"]
    loud = schemes.filter(pl.col("uses_keyword_memo") == "true")["scheme_id"]
    assert len(silent) >= 1 and len(loud) >= 1

    def investor_memos(scheme_ids):
        scheme_accounts = accounts.filter(pl.col("scheme_id").is_in(scheme_ids.implode()))
        receivers = scheme_accounts.filter(pl.col("role").is_in(["hub", "collector"]))["account_no"]
        investors = scheme_accounts.filter(pl.col("role") == "investor")["account_no"]
        paid_in = lines.filter(
            pl.col("account_no").is_in(receivers.implode())
            & (pl.col("direction") == "IN")
            & pl.col("counterparty_account_no").is_in(investors.implode())
        )
        assert paid_in.height > 0
        return paid_in["memo"].drop_nulls().to_list()

    assert not any(KEYWORDS.search(memo) for memo in investor_memos(silent))
    assert any(KEYWORDS.search(memo) for memo in investor_memos(loud))


def test_payroll_pensions_and_wealth_products_exist(county, truth):
    _, _, lines = county
    accounts, _ = truth
    payroll = (
        lines.filter(
            (pl.col("direction") == "OUT")
            & pl.col("memo").is_in(["工资", "代发工资"])
            & ~pl.col("account_no").is_in(accounts["account_no"].implode())
        )
        .group_by("account_no", pl.col("time").dt.date())
        .agg(pl.col("counterparty_account_no").n_unique().alias("employees"))
    )
    assert payroll["employees"].max() >= 20
    pensions = lines.filter((pl.col("memo") == "养老金") & (pl.col("direction") == "IN"))
    assert pensions.height > 100 and pensions["counterparty_account_no"].n_unique() == 1
    interest = lines.filter((pl.col("memo") == "理财收益") & (pl.col("direction") == "OUT"))
    assert interest.height > 10 and interest["account_name"].str.contains("银行").all()


def test_near_threshold_structuring_and_cash_out(county, truth):
    _, _, lines = county
    accounts, schemes = truth
    blockchain_hub = schemes.filter(pl.col("kind") == "blockchain")["hub_account"][0]
    near = lines.filter(
        (pl.col("account_no") == blockchain_hub)
        & (pl.col("direction") == "IN")
        & pl.col("cents").is_between(45_000_000, 49_999_999)
    )
    pair_counts = near.group_by("counterparty_account_no").len()
    assert pair_counts["len"].max() >= 3
    cashout = schemes.filter(pl.col("kind") == "cashout")["scheme_id"][0]
    controllers = accounts.filter((pl.col("scheme_id") == cashout) & (pl.col("role") == "controller"))["account_no"]
    withdrawals = lines.filter(
        pl.col("account_no").is_in(controllers.implode())
        & (pl.col("method") == "CASH")
        & (pl.col("direction") == "OUT")
        & pl.col("cents").is_between(4_500_000, 4_999_999)
    )
    assert withdrawals.group_by("account_no").len()["len"].max() >= 3


def test_truth_matches_the_files(county, truth):
    _, summary, lines = county
    accounts, schemes = truth
    assert schemes.height == summary["schemes"] == 6
    assert set(schemes["kind"]) == {"ponzi", "collectors", "coop", "blockchain", "cashout"}
    assert accounts.select("account_no", "scheme_id").is_duplicated().sum() == 0
    assert set(accounts["role"]) == {"hub", "collector", "investor", "promoter", "controller"}
    hubs = accounts.filter(pl.col("role") == "hub").sort("scheme_id")
    assert hubs["account_no"].to_list() == schemes.sort("scheme_id")["hub_account"].to_list()
    seen = set(lines["account_no"]) | set(lines["counterparty_account_no"].drop_nulls())
    assert set(accounts["account_no"]) <= seen
    reporting_side = accounts.filter(pl.col("role") != "investor")["account_no"]
    assert set(reporting_side) <= set(lines["account_no"])
    for row in schemes.iter_rows(named=True):
        scheme_accounts = accounts.filter(pl.col("scheme_id") == row["scheme_id"])
        assert int(row["n_investors"]) <= (scheme_accounts["role"] == "investor").sum()
        receivers = scheme_accounts.filter(pl.col("role").is_in(["hub", "collector"]))["account_no"]
        received = lines.filter(pl.col("account_no").is_in(receivers.implode()) & (pl.col("direction") == "IN"))
        assert 0 < float(row["total_raised"]) * 100 <= received["cents"].sum()
    # controllers bank at two institutions under one ID (actor resolution is tested on this)
    controllers = lines.filter(
        pl.col("account_no").is_in(accounts.filter(pl.col("role") == "controller")["account_no"].implode())
    )
    per_person = controllers.group_by("customer_id_no").agg(pl.col("bank").n_unique())
    assert (per_person["bank"] >= 2).all()


def test_nobody_investing_in_one_scheme_holds_a_role_in_another(county, truth):
    """A cash payment in names the investor as the agent (代办人) on the hub's account, one actor with the
    investor's own accounts: an investor who fronted or controlled another scheme would make two schemes one
    controller in the data while the truth names two."""
    _, _, lines = county
    accounts, _ = truth
    holder = (
        pl.concat(
            [
                lines.select(account_no="account_no", person="customer_id_no"),
                lines.select(account_no="counterparty_account_no", person="counterparty_id_no"),
                lines.select(account_no="account_no", person="legal_rep_id_no"),
            ]
        )
        .drop_nulls()
        .unique()
    )
    people = accounts.join(holder, on="account_no")
    investors = people.filter(pl.col("role") == "investor").select("person", invested_in="scheme_id")
    roles = people.filter(pl.col("role") != "investor").select("person", role_in="scheme_id")
    both = roles.join(investors, on="person").filter(pl.col("role_in") != pl.col("invested_in"))
    assert roles.height > 20 and investors.height > 200
    assert both.height == 0, both


def test_realistic_reporting_follows_article_5_and_flags_some_accounts(tmp_path):
    generate_county(tmp_path, persons=1500, days=40, schemes=5, seed=4, reporting="realistic")
    lines = read_lines(tmp_path / "reports")
    accounts = pl.read_csv(tmp_path / "truth" / "accounts.csv", infer_schema=False)
    schemes = pl.read_csv(tmp_path / "truth" / "schemes.csv", infer_schema=False)
    large = lines.filter(pl.col("file_kind") == "LARGE").with_columns(
        cash=pl.col("counterparty_account_no").is_null(),
        day=pl.col("time").dt.date(),
        org=~pl.col("customer_id_type").is_in(PERSON_ID_TYPES),
    )
    assert large.height > 0
    sides = large.group_by("account_no", "day", "direction", "cash", "org").agg(pl.col("cents").sum())
    bar = pl.when(pl.col("cash")).then(5_000_000).when(pl.col("org")).then(200_000_000).otherwise(50_000_000)
    assert sides.filter(pl.col("cents") < bar).height == 0
    suspicious = set(lines.filter(pl.col("file_kind") == "SUSPICIOUS")["account_no"])
    hubs = set(schemes["hub_account"])
    assert 0 < len(hubs & suspicious) < len(hubs)
    assert suspicious - set(accounts["account_no"]), "no legitimate decoy was flagged"
    assert lines.filter(pl.col("file_kind") == "SUSPICIOUS")["suspicion_text"].drop_nulls().len() > 0


def test_generate_command_refuses_impossible_counties(tmp_path, capsys):
    assert main(["--home", str(tmp_path / "home"), "generate", "--out", str(tmp_path / "x"), "--persons", "10"]) == 1
    assert "persons must be at least 200" in capsys.readouterr().err
    assert (
        main(["--home", str(tmp_path / "home"), "generate", "--out", str(tmp_path / "x"), "--start", "2999-01-01"]) == 1
    )
    assert (
        main(
            [
                "--home",
                str(tmp_path / "home"),
                "generate",
                "--out",
                str(tmp_path / "y"),
                "--persons",
                "300",
                "--days",
                "10",
                "--schemes",
                "2",
            ]
        )
        == 0
    )
    assert (tmp_path / "y" / "manifest.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("fmt,reporting", [("csv", "full"), ("xml", "realistic"), ("xlsx", "realistic")])
def test_generated_files_load_with_nothing_quarantined(tmp_path, fmt, reporting):
    import duckdb

    out = tmp_path / "county"
    generate_county(out, persons=400, days=20, schemes=5, seed=8, fmt=fmt, reporting=reporting)
    home = tmp_path / "home"
    assert main(["--home", str(home), "ingest", str(out / "reports")]) == 0
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        assert con.sql("SELECT count(*) FROM txn").fetchone()[0] > 0
        loaded = {
            row[0]
            for row in con.sql("SELECT account_no FROM txn UNION SELECT counterparty_account_no FROM txn").fetchall()
        }
        reporting_accounts = {row[0] for row in con.sql("SELECT account_no FROM txn").fetchall()}
    accounts = pl.read_csv(out / "truth" / "accounts.csv", infer_schema=False)
    if reporting == "full":
        assert set(accounts["account_no"]) <= loaded
        assert set(accounts.filter(pl.col("role") != "investor")["account_no"]) <= reporting_accounts
    else:
        assert set(accounts["account_no"]) & reporting_accounts


def test_lawful_look_alikes_have_their_lawful_money_shape(county):
    out, summary, lines = county
    found = pl.read_csv(out / "truth" / "lookalikes.csv", infer_schema=False)
    assert set(found["kind"]) == {"coop", "care_home", "insurer", "bank_product", "merchant"}
    assert summary["lookalikes"] == 5
    schemes = pl.read_csv(out / "truth" / "accounts.csv", infer_schema=False)
    assert not set(found["account_no"]) & set(schemes["account_no"])
    entity = dict(
        zip(found.filter(pl.col("role") == "entity")["kind"], found.filter(pl.col("role") == "entity")["account_no"])
    )
    paid_in = lines.filter((pl.col("direction") == "IN") & (pl.col("counterparty_id_type").is_in(PERSON_ID_TYPES)))
    # a care home: the same families pay the same fee every month
    care = paid_in.filter(pl.col("account_no") == entity["care_home"]).with_columns(month=pl.col("time").dt.month())
    per_payer = care.group_by("counterparty_account_no").agg(pl.col("month").n_unique(), pl.col("cents").n_unique())
    assert per_payer.height >= 30
    assert (per_payer["month"] >= 2).mean() > 0.9 and (per_payer["cents"] == 1).mean() > 0.9
    # a co-op settles its members by what each delivered: amounts vary, never one fixed share of what they paid
    coop_out = lines.filter((pl.col("account_no") == entity["coop"]) & (pl.col("direction") == "OUT"))
    settled = coop_out.filter(pl.col("memo") == "农产品收购款")
    members = set(paid_in.filter(pl.col("account_no") == entity["coop"])["counterparty_account_no"])
    assert settled["counterparty_account_no"].is_in(list(members)).mean() > 0.7
    assert settled["cents"].std() / settled["cents"].mean() > 0.5
    # a merchant is paid by card; a bank product's money goes to the bank's own settlement account
    merchant = paid_in.filter(pl.col("account_no") == entity["merchant"])
    assert (merchant["method"] == "POS").mean() > 0.7
    bank_out = lines.filter((pl.col("account_no") == entity["bank_product"]) & (pl.col("direction") == "OUT"))
    settlement = found.filter(pl.col("role") == "settlement")["account_no"].to_list()
    assert set(bank_out["counterparty_account_no"]) == set(settlement)


def test_disguised_twins_are_schemes_and_leave_the_others_as_they_were(tmp_path):
    plain = generate_county(tmp_path / "plain", persons=600, days=40, schemes=2, seed=4, lookalikes=False)
    both = generate_county(tmp_path / "both", persons=600, days=40, schemes=2, seed=4, disguised=5)
    assert (plain["schemes"], both["schemes"], both["disguised_schemes"]) == (2, 7, 5)
    kinds = pl.read_csv(tmp_path / "both" / "truth" / "schemes.csv", infer_schema=False)
    assert kinds["kind"].to_list()[2:] == [
        "care_membership",
        "coop_deposit",
        "fake_insurance",
        "fake_wealth",
        "consume_rebate",
    ]
    before = pl.read_csv(tmp_path / "plain" / "truth" / "accounts.csv", infer_schema=False)
    after = pl.read_csv(tmp_path / "both" / "truth" / "accounts.csv", infer_schema=False)
    assert after.filter(pl.col("scheme_id").is_in(["S01", "S02"])).equals(before)
