"""Account features kept in the warehouse between nights are the features measured afresh: random nights of
small files (resubmissions, copies, both legs of a payment in different nights, holder facts that change) are
prepared as updates, the stored features are brought up to date after each, and every row equals a measurement
from payments. A rebuild forgets them, and another window replaces them."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from detectors import scoring
from detectors.base import Window
from pipelines.ingest.load import ingest_file
from pipelines.warehouse.prepare import prepare_warehouse
from tests.pipelines.warehouse.test_incremental import random_file

WINDOW = Window(as_of=date(2025, 3, 31), days=90)
KEYWORDS = scoring.DEFAULT_KEYWORDS
OPENED = ["", "2019-05-01", "2024-12-20"]


def night_file(rng: random.Random, folder: Path, number: int, earlier: list) -> Path:
    """A file of the warehouse property test with an account-opened date on each line (a holder fact the
    features read from parties), drawn again whenever a line is sent again."""
    path = random_file(rng, folder, number, earlier)
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    rows = [f"{header},account_opened"] + [f"{line},{rng.choice(OPENED)}" for line in lines]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def measured(con, min_txn: int = 1, accounts: list[str] | None = None):
    return scoring._measured(con, WINDOW, KEYWORDS, min_txn, accounts)


@pytest.mark.parametrize("seed", range(6))
def test_stored_features_brought_up_to_date_night_after_night_equal_a_fresh_measurement(
    settings, warehouse, tmp_path, seed
):
    rng = random.Random(seed)
    earlier: list = []
    number = 0
    remeasured = []
    for night in range(6):
        for _ in range(rng.randint(1, 3)):
            number += 1
            ingest_file(warehouse, settings, night_file(rng, tmp_path, number, earlier))
        prepare_warehouse(warehouse, settings, mode="update")
        changed = warehouse.execute("SELECT count(*) FROM changed_accounts").fetchone()[0]
        remeasured.append(scoring.refresh_stored_features(warehouse, WINDOW, KEYWORDS))
        if night:
            assert remeasured[-1] == changed, "after the first night only the changed accounts are measured"
        fresh = measured(warehouse)
        stored = warehouse.execute("SELECT * FROM stored_features ORDER BY account_no").pl()
        assert stored.equals(fresh), f"seed {seed}, night {night}: stored rows"
        assert scoring.account_features(warehouse, WINDOW, KEYWORDS).equals(fresh)
        some = sorted(rng.sample(fresh["account_no"].to_list(), min(3, fresh.height)))
        assert scoring.account_features(warehouse, WINDOW, KEYWORDS, min_txn=2, accounts=some).equals(
            measured(warehouse, 2, some)
        )
    assert fresh.height, "the files made payments in the window"
    # some later night reused stored rows (measured some accounts, not all), so the comparison covers both
    assert any(0 < count < fresh.height for count in remeasured[1:]), remeasured


def test_features_read_between_a_prepare_and_the_next_refresh_are_measured_for_the_changed_accounts(
    settings, warehouse, tmp_path
):
    rng = random.Random(7)
    earlier: list = []
    for number in range(1, 6):
        ingest_file(warehouse, settings, night_file(rng, tmp_path, number, earlier))
    prepare_warehouse(warehouse, settings, mode="update")
    scoring.refresh_stored_features(warehouse, WINDOW, KEYWORDS)
    for number in range(6, 9):
        ingest_file(warehouse, settings, night_file(rng, tmp_path, number, earlier))
    prepare_warehouse(warehouse, settings, mode="update")
    assert warehouse.execute("SELECT count(*) FROM changed_accounts").fetchone()[0] > 0
    # the stored rows of the changed accounts are out of date; what is read is not
    assert scoring.account_features(warehouse, WINDOW, KEYWORDS).equals(measured(warehouse))


def test_a_rebuild_forgets_the_stored_features_and_another_window_replaces_them(settings, warehouse, tmp_path):
    rng = random.Random(3)
    earlier: list = []
    for number in range(1, 6):
        ingest_file(warehouse, settings, night_file(rng, tmp_path, number, earlier))
    prepare_warehouse(warehouse, settings, mode="update")
    everyone = scoring.refresh_stored_features(warehouse, WINDOW, KEYWORDS)
    assert everyone == measured(warehouse).height > 0
    assert scoring.refresh_stored_features(warehouse, WINDOW, KEYWORDS) == 0, "nothing changed, nothing measured"
    prepare_warehouse(warehouse, settings, mode="rebuild")
    assert warehouse.execute("SELECT count(*) FROM feature_window").fetchone()[0] == 0
    assert scoring.refresh_stored_features(warehouse, WINDOW, KEYWORDS) == everyone, "measured again in full"
    shorter = Window(as_of=date(2025, 3, 31), days=45)
    scoring.refresh_stored_features(warehouse, shorter, KEYWORDS)
    assert warehouse.execute("SELECT count(*), min(window_start) FROM feature_window").fetchone() == (
        1,
        shorter.start,
    )
    assert scoring.account_features(warehouse, shorter, KEYWORDS).equals(
        scoring._measured(warehouse, shorter, KEYWORDS, 1, None)
    )
