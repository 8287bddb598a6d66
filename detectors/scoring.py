"""Scoring features and the unsupervised anomaly score (scikit-learn).

`account_features` computes per-account features in SQL over `payments` for a window; `score_accounts` ranks
accounts by an IsolationForest over robustly scaled features and explains each by its most unusual features;
`ring_features` describes each ring (and so each lead), `alerted_account_features` each alerted account, for
the supervised ranking model in `pipelines.evaluation.train`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from detectors.base import Window

FEATURES_SQL = (Path(__file__).with_name("scoring_features.sql")).read_text(encoding="utf-8")

# The T5 default list (DOMAIN §2.2); the anomaly rule may override it.
DEFAULT_KEYWORDS = (
    "投资|理财|利息|付息|分红|返利|返息|收益|本金|本息|复投|认购|入股|股金|集资|众筹|养老|保本|保息|高息|月息|日息"
)


@dataclass(frozen=True)
class Feature:
    name: str
    label_zh: str
    label_en: str
    unit: str  # count | yuan | share | ratio | hours | days | cv
    log: bool = False  # compared on a log scale: counts and amounts are heavy-tailed


ACCOUNT_FEATURES: tuple[Feature, ...] = (
    Feature("n_in", "转入笔数", "payments in", "count", log=True),
    Feature("n_out", "转出笔数", "payments out", "count", log=True),
    Feature("amount_in", "转入金额", "amount in", "yuan", log=True),
    Feature("amount_out", "转出金额", "amount out", "yuan", log=True),
    Feature("payers", "转入对手数", "distinct payers", "count", log=True),
    Feature("payees", "转出对手数", "distinct payees", "count", log=True),
    Feature("individual_payer_share", "个人付款人占比", "individual payer share", "share"),
    Feature("elderly_payer_share", "60岁以上付款人占比", "payers aged 60+ share", "share"),
    Feature("pass_through", "转出/转入比", "out/in ratio", "ratio"),
    Feature("median_hold_hours", "资金停留时长中位数", "median hold time", "hours", log=True),
    Feature("out_interval_cv", "转出间隔变异系数", "CV of outgoing intervals", "cv"),
    Feature("round_in_share", "整千转入占比", "round-thousand inflow share", "share"),
    Feature("unit_in_share", "同额转入占比", "same-amount inflow share", "share"),
    Feature("out_amount_cv", "转出金额变异系数", "CV of outgoing amounts", "cv"),
    Feature("night_share", "夜间交易占比", "night-time share", "share"),
    Feature("cash_out_share", "现金转出占比", "cash-out share", "share"),
    Feature("keyword_share", "附言关键词占比", "memo keyword share", "share"),
    Feature("account_age_days", "开户天数", "account age", "days", log=True),
)
FEATURE_BY_NAME = {feature.name: feature for feature in ACCOUNT_FEATURES}


def account_features(
    con: duckdb.DuckDBPyConnection,
    window: Window,
    keywords: str = DEFAULT_KEYWORDS,
    min_txn: int = 1,
    accounts: list[str] | None = None,
) -> pl.DataFrame:
    """One row per account with at least `min_txn` payments in the window: `account_no`, `n_txn` and every
    feature in ACCOUNT_FEATURES (null where it is undefined, e.g. no inflow for the out/in ratio). `accounts`,
    when given, restricts the rows to those accounts.

    When the warehouse keeps this window's features (`refresh_stored_features`), the stored rows are read and
    only the accounts changed since are measured; the rows are the same either way."""
    if not _stored_for(con, window, keywords):
        return _measured(con, window, keywords, min_txn, accounts)
    wanted = list(accounts or [])
    stored = con.execute(
        """SELECT * FROM stored_features
        WHERE n_txn >= $min_txn AND (len($accounts) = 0 OR account_no IN (SELECT unnest($accounts)))
          AND account_no NOT IN (SELECT account_no FROM changed_accounts)""",
        {"min_txn": min_txn, "accounts": wanted},
    ).pl()
    changed = {row[0] for row in con.execute("SELECT account_no FROM changed_accounts").fetchall()}
    if wanted:
        changed &= set(wanted)
    if not changed:
        return stored.sort("account_no")
    fresh = _measured(con, window, keywords, min_txn, sorted(changed))
    return pl.concat([stored, fresh]).sort("account_no")


FEATURES_SQL_HASH = hashlib.sha256(FEATURES_SQL.encode("utf-8")).hexdigest()[:16]
"""Part of the stored features' key: features measured by another version of the query are not reused."""


def refresh_stored_features(con: duckdb.DuckDBPyConnection, window: Window, keywords: str) -> int:
    """Bring the warehouse's stored features up to date for `window` and `keywords` (every account with a
    payment in the window): the accounts changed since they were measured, or all of them for a window not yet
    stored (which replaces the one that was). Returns how many accounts were measured."""
    con.begin()  # all or nothing: stored rows and the window they are for change together
    try:
        if _stored_for(con, window, keywords):
            changed = [row[0] for row in con.execute("SELECT account_no FROM changed_accounts").fetchall()]
            if changed:
                con.execute("DELETE FROM stored_features WHERE account_no IN (SELECT account_no FROM changed_accounts)")
                con.execute(f"INSERT INTO stored_features {FEATURES_SQL}", _params(window, keywords, 1, changed))
            measured = len(changed)
        else:
            con.execute(f"CREATE OR REPLACE TABLE stored_features AS {FEATURES_SQL}", _params(window, keywords, 1, []))
            con.execute("DELETE FROM feature_window")
            con.execute(
                """INSERT INTO feature_window
                VALUES ($start, $end, $as_of, $keywords, $hash, current_localtimestamp())""",
                _key(window, keywords),
            )
            found = con.execute("SELECT count(*) FROM stored_features").fetchone()
            measured = int(found[0]) if found else 0
        con.execute("DELETE FROM changed_accounts")
    except BaseException:
        con.rollback()
        raise
    con.commit()
    return measured


def _stored_for(con, window: Window, keywords: str) -> bool:
    """Whether the warehouse keeps the features of this window and keywords (never on Spark's connection)."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return False
    found = con.execute(
        """SELECT count(*) FROM feature_window WHERE window_start = $start AND window_end = $end
        AND as_of = $as_of AND keywords = $keywords AND features_sql_hash = $hash""",
        _key(window, keywords),
    ).fetchone()
    return bool(found and found[0])


def _key(window: Window, keywords: str) -> dict:
    """What stored features were measured for: another window, keyword list or query is measured afresh."""
    return {
        "start": window.start,
        "end": window.end,
        "as_of": window.as_of,
        "keywords": keywords,
        "hash": FEATURES_SQL_HASH,
    }


def _params(window: Window, keywords: str, min_txn: int, accounts: list[str] | None) -> dict:
    return {
        "start": window.start,
        "end": window.end,
        "as_of": window.as_of,
        "keywords": keywords,
        "min_txn": min_txn,
        "accounts": list(accounts or []),
    }


def _measured(con, window: Window, keywords: str, min_txn: int, accounts: list[str] | None) -> pl.DataFrame:
    """The features measured from payments (no stored rows read)."""
    return con.execute(FEATURES_SQL, _params(window, keywords, min_txn, accounts)).pl()


def _transformed(features: pl.DataFrame) -> np.ndarray:
    columns = []
    for feature in ACCOUNT_FEATURES:
        values = features[feature.name].cast(pl.Float64).to_numpy().astype(float)
        if feature.log:
            values = np.log1p(np.clip(values, 0, None))
        columns.append(values)
    return np.column_stack(columns)


# The smallest spread a feature is measured in: 10 points of a share, 0.1 of a ratio or CV, 0.1 on the log
# scale (about 10%).
MIN_SPREAD = 0.1


def robust_z(matrix: np.ndarray, floor: float = MIN_SPREAD) -> np.ndarray:
    """Robust z-scores per column: (x − median) / (IQR / 1.349), the IQR falling back to the standard deviation
    when most values are equal, and never below `floor` (so a feature almost everyone has at 0 does not turn a
    modest value into an extreme one); missing values get z = 0, i.e. they count as typical."""
    z = np.zeros_like(matrix, dtype=float)
    for column in range(matrix.shape[1]):
        values = matrix[:, column]
        known = values[~np.isnan(values)]
        if len(known) == 0:
            continue
        q25, centre, q75 = np.percentile(known, [25, 50, 75])
        scale = (q75 - q25) / 1.349
        if scale <= 1e-9:
            scale = float(np.std(known))
        scale = max(scale, floor)
        z[:, column] = np.where(np.isnan(values), 0.0, (values - centre) / scale)
    return z


@dataclass(frozen=True)
class Contribution:
    """One feature that made an account unusual: its value, the population median, and its robust z."""

    feature: Feature
    value: float
    median: float
    z: float


@dataclass(frozen=True)
class ScoredAccounts:
    accounts: list[str]
    scores: np.ndarray  # IsolationForest anomaly score in (0, 1]; about 0.5 is ordinary, near 1 is isolated
    z: np.ndarray  # robust z-scores, one row per account, one column per feature
    values: pl.DataFrame  # the raw features
    medians: dict[str, float]

    def order(self) -> np.ndarray:
        """Indexes from the most to the least anomalous; ties broken by account number for stable output."""
        return np.lexsort((np.array(self.accounts), -self.scores))

    def explain(self, index: int, top: int = 3) -> list[Contribution]:
        """The `top` features with the largest |robust z| for this account (the ones furthest from typical)."""
        strongest = np.argsort(-np.abs(self.z[index]), kind="stable")[:top]
        found = []
        for column in strongest:
            if abs(self.z[index, column]) < 1e-9:
                continue
            feature = ACCOUNT_FEATURES[column]
            found.append(
                Contribution(
                    feature,
                    float(self.values[feature.name][int(index)]),
                    self.medians[feature.name],
                    float(self.z[index, column]),
                )
            )
        return found


def score_accounts(features: pl.DataFrame, n_estimators: int = 200, random_state: int = 0) -> ScoredAccounts:
    """IsolationForest over the robust z-scores of the account features (log scale for counts and amounts).

    An account that few random splits are needed to isolate is unusual in some combination of features. The
    forest does not say which, so each account is explained by its own robust z-scores: the features where it
    is furthest from the population median, in units of the population's spread.
    """
    # Imported here: scikit-learn (with the SciPy it loads) takes ~1 s to import, and every process that imports
    # the rule pack (publishing, the console, ingest-only runs) would pay it without ever scoring.
    from sklearn.ensemble import IsolationForest

    z = robust_z(_transformed(features))
    forest = IsolationForest(n_estimators=n_estimators, random_state=random_state)
    forest.fit(z)
    medians = {feature.name: _median(features[feature.name]) for feature in ACCOUNT_FEATURES}
    return ScoredAccounts(features["account_no"].to_list(), -forest.score_samples(z), z, features, medians)


def _median(column: pl.Series) -> float:
    value = column.cast(pl.Float64).median()
    return float(value) if isinstance(value, (int, float)) else math.nan


def format_value(feature: Feature, value: float, lang: str) -> str:
    """A feature value as an analyst reads it: 812, ¥4,310,000, 97%, 1.02, 3.5 小时, 120 天."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "无" if lang == "zh" else "n/a"
    if feature.unit == "count":
        return f"{value:,.0f}"
    if feature.unit == "yuan":
        return f"¥{value:,.0f}"
    if feature.unit == "share":
        return f"{value:.0%}"
    if feature.unit == "hours":
        return f"{value:,.1f} 小时" if lang == "zh" else f"{value:,.1f} h"
    if feature.unit == "days":
        return f"{value:,.0f} 天" if lang == "zh" else f"{value:,.0f} days"
    return f"{value:.2f}"


def describe(contributions: list[Contribution], lang: str) -> str:
    """'转入笔数 812（中位数 14）；个人付款人占比 97%（中位数 40%）' or its English form."""
    if lang == "zh":
        return "；".join(
            f"{c.feature.label_zh} {format_value(c.feature, c.value, 'zh')}"
            f"（中位数 {format_value(c.feature, c.median, 'zh')}）"
            for c in contributions
        )
    return "; ".join(
        f"{c.feature.label_en} {format_value(c.feature, c.value, 'en')}"
        f" (median {format_value(c.feature, c.median, 'en')})"
        for c in contributions
    )


# Typologies whose presence in a ring is a model feature; the rest are counted in n_typologies only.
RING_TYPOLOGY_FLAGS = (
    "fan_in",
    "pass_through",
    "interest_payout",
    "round_amounts",
    "memo_keywords",
    "elderly_payers",
    "dormant_burst",
    "night_activity",
    "controlled_accounts",
    "insider_commission",
    "cash_out",
    "cross_region",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "anomaly",
)
HUB_FEATURES = (
    "payers",
    "individual_payer_share",
    "elderly_payer_share",
    "pass_through",
    "median_hold_hours",
    "out_interval_cv",
    "round_in_share",
    "unit_in_share",
    "out_amount_cv",
    "night_share",
    "cash_out_share",
    "keyword_share",
    "account_age_days",
)
RING_FEATURES: tuple[str, ...] = (
    "rule_score",
    "n_members",
    "n_alerts",
    "n_rules",
    "n_typologies",
    "total_in",
    "total_out",
    "individual_payers",
    "elderly_share",
    "n_provinces",
    "ring_pass_through",
    "max_alert_score",
    "n_evidence",
    "internal_density",
    "hub_in_share",
    *(f"hub_{name}" for name in HUB_FEATURES),
    *(f"has_{typology}" for typology in RING_TYPOLOGY_FLAGS),
)

RING_SQL = """
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY ring_id ORDER BY window_end, run_id) AS nth_run FROM rings
),
chosen AS (
    -- without a run: each ring once, as its first run saw it (what the office had when the lead was made)
    SELECT * EXCLUDE (nth_run) FROM ranked
    WHERE CASE WHEN $run_id IS NULL THEN nth_run = 1 ELSE run_id = $run_id END
),
ring_alert_ids AS (
    SELECT ring_id, run_id, unnest(alert_ids) AS alert_id FROM chosen
),
ring_alerts AS (
    SELECT r.ring_id, r.run_id, count(a.alert_id) AS n_alerts, count(DISTINCT a.rule_id) AS n_rules,
           coalesce(max(a.score), 0) AS max_alert_score
    FROM ring_alert_ids r JOIN alerts a USING (alert_id)
    GROUP BY r.ring_id, r.run_id
),
members AS (
    SELECT ring_id, run_id, window_start, window_end, unnest(member_accounts) AS account_no FROM chosen
),
internal AS (
    SELECT m.ring_id, m.run_id, count(DISTINCT (p.payer_account, p.payee_account)) AS internal_pairs
    FROM members m
    JOIN payments p ON p.payer_account = m.account_no AND p.txn_time >= m.window_start
                   AND p.txn_time < m.window_end
    JOIN members n ON n.ring_id = m.ring_id AND n.run_id = m.run_id AND n.account_no = p.payee_account
                  AND n.account_no <> m.account_no
    GROUP BY m.ring_id, m.run_id
),
hub_payments AS (
    SELECT c.ring_id, c.run_id, p.txn_time
    FROM chosen c JOIN payments p ON p.payee_account = c.hub_account
    WHERE p.txn_time >= c.window_start AND p.txn_time < c.window_end
    UNION ALL
    SELECT c.ring_id, c.run_id, p.txn_time
    FROM chosen c JOIN payments p ON p.payer_account = c.hub_account
    WHERE p.txn_time >= c.window_start AND p.txn_time < c.window_end
),
activity AS (
    SELECT ring_id, run_id, min(txn_time) AS first_activity FROM hub_payments GROUP BY ring_id, run_id
)
SELECT c.ring_id, c.run_id, c.hub_account, c.member_accounts, c.typologies, c.window_start, c.window_end,
       coalesce(act.first_activity, c.window_start) AS first_activity,
       c.score AS rule_score,
       len(c.member_accounts) AS n_members,
       coalesce(ra.n_alerts, 0) AS n_alerts,
       coalesce(ra.n_rules, 0) AS n_rules,
       len(list_distinct(c.typologies)) AS n_typologies,
       CAST(c.total_in AS DOUBLE) AS total_in,
       CAST(c.total_out AS DOUBLE) AS total_out,
       c.individual_payers,
       c.elderly_share,
       len(list_distinct(c.provinces)) AS n_provinces,
       least(CAST(c.total_out AS DOUBLE) / nullif(CAST(c.total_in AS DOUBLE), 0), 10.0) AS ring_pass_through,
       coalesce(ra.max_alert_score, 0) AS max_alert_score,
       len(c.evidence_payments) AS n_evidence,
       CASE WHEN len(c.member_accounts) > 1
            THEN coalesce(i.internal_pairs, 0) / (len(c.member_accounts) * (len(c.member_accounts) - 1.0))
            ELSE 0 END AS internal_density
FROM chosen c
LEFT JOIN ring_alerts ra USING (ring_id, run_id)
LEFT JOIN internal i USING (ring_id, run_id)
LEFT JOIN activity act USING (ring_id, run_id)
ORDER BY c.ring_id
"""


def ring_features(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None, keywords: str = DEFAULT_KEYWORDS
) -> pl.DataFrame:
    """One row per ring: identity columns (ring_id, run_id, hub_account, member_accounts, typologies,
    window_start, window_end, first_activity) and every name in RING_FEATURES.

    With `run_id`, the rings of that run (for re-ranking what it publishes); without, each ring as first seen.
    Graph measures: internal_density (directed member pairs that paid each other / possible pairs) and
    hub_in_share (the hub's inflow / the ring's inflow). Hub features come from `account_features`.
    """
    rings = con.execute(RING_SQL, {"run_id": run_id}).pl()
    hub_columns = [f"hub_{name}" for name in HUB_FEATURES]
    if rings.is_empty():
        return rings.with_columns(
            [pl.lit(None, dtype=pl.Float64).alias(name) for name in ["hub_in_share", *hub_columns]]
            + [pl.lit(0.0).alias(f"has_{t}") for t in RING_TYPOLOGY_FLAGS]
        )
    hub_rows = []
    for (start, end), group in rings.group_by(["window_start", "window_end"], maintain_order=True):
        window = Window(as_of=(end - timedelta(days=1)).date(), days=max((end - start).days, 1))
        hubs = account_features(con, window, keywords, accounts=group["hub_account"].unique().to_list())
        hub_rows.append(hubs.with_columns(pl.lit(start).alias("window_start"), pl.lit(end).alias("window_end")))
    hubs = pl.concat(hub_rows, how="vertical_relaxed").select(
        "account_no",
        "window_start",
        "window_end",
        pl.col("amount_in").alias("hub_amount_in"),
        *[pl.col(name).cast(pl.Float64).alias(f"hub_{name}") for name in HUB_FEATURES],
    )
    rings = rings.join(
        hubs,
        left_on=["hub_account", "window_start", "window_end"],
        right_on=["account_no", "window_start", "window_end"],
        how="left",
    )
    rings = rings.with_columns(
        (pl.col("hub_amount_in") / pl.when(pl.col("total_in") > 0).then(pl.col("total_in")))
        .clip(upper_bound=1.0)
        .alias("hub_in_share"),
        *[pl.col("typologies").list.contains(t).cast(pl.Float64).alias(f"has_{t}") for t in RING_TYPOLOGY_FLAGS],
    ).drop("hub_amount_in")
    return rings.with_columns([pl.col(name).cast(pl.Float64) for name in RING_FEATURES])


# Typologies of the rule pack: an alerted account's alert scores per typology are model features.
ALERT_TYPOLOGIES = (
    "fan_in",
    "fan_out",
    "pass_through",
    "interest_payout",
    "round_amounts",
    "memo_keywords",
    "elderly_payers",
    "dormant_burst",
    "night_activity",
    "controlled_accounts",
    "insider_commission",
    "cash_out",
    "cross_region",
    "unrelated_business",
    "near_threshold",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "bipartite",
    "stack",
    "anomaly",
)
ALERTED_ACCOUNT_FEATURES: tuple[str, ...] = (
    "rule_score",
    "n_alerts",
    "n_rules",
    "max_alert_score",
    *(feature.name for feature in ACCOUNT_FEATURES),
    *(f"score_{typology}" for typology in ALERT_TYPOLOGIES),
)

ALERTED_SQL = """
WITH alert_accounts AS (
    -- an alert on an actor (T9) is an alert on each of the actor's accounts
    SELECT DISTINCT a.run_id, a.alert_id, a.rule_id, a.typology, a.score, account_no
    FROM (
        SELECT alerts.*, subject AS account_no FROM alerts WHERE subject_kind = 'account'
        UNION ALL BY NAME
        SELECT alerts.*, aa.account_no FROM alerts JOIN actor_accounts aa ON aa.actor_id = alerts.subject
        WHERE subject_kind = 'actor'
    ) a
    WHERE $run_id IS NULL OR a.run_id = $run_id
),
run_windows AS (
    -- a run's window spans its rules' windows: from the earliest start to the day after its as-of
    SELECT run_id, min(window_start) AS window_start, max(window_end) AS window_end FROM alerts GROUP BY run_id
),
ranked AS (
    SELECT account_no, run_id,
           row_number() OVER (PARTITION BY account_no ORDER BY w.window_end, run_id) AS nth_run
    FROM (SELECT DISTINCT account_no, run_id FROM alert_accounts) JOIN run_windows w USING (run_id)
),
chosen AS (
    -- each account once, as the first run that alerted it saw it (what the office had then)
    SELECT account_no, run_id FROM ranked WHERE nth_run = 1
)
SELECT c.account_no, c.run_id, w.window_start, w.window_end,
       sum(a.score) AS rule_score, count(*) AS n_alerts, count(DISTINCT a.rule_id) AS n_rules,
       max(a.score) AS max_alert_score,
       {typology_columns}
FROM chosen c
JOIN alert_accounts a USING (account_no, run_id)
JOIN run_windows w USING (run_id)
GROUP BY ALL
ORDER BY c.account_no
""".format(
    typology_columns=",\n       ".join(
        f"coalesce(sum(a.score) FILTER (WHERE a.typology = '{t}'), 0) AS score_{t}" for t in ALERT_TYPOLOGIES
    )
)

FIRST_ACTIVITY_SQL = """
SELECT account_no, min(txn_time) AS first_activity
FROM (
    SELECT payee_account AS account_no, txn_time FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND list_contains($accounts, payee_account)
    UNION ALL
    SELECT payer_account, txn_time FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND list_contains($accounts, payer_account)
)
GROUP BY account_no
"""


def alerted_account_features(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None, keywords: str = DEFAULT_KEYWORDS
) -> pl.DataFrame:
    """One row per alerted account — the subject of an alert, or an account of an actor that is — the
    candidates the office has to rank: identity columns (account_no, run_id, window_start, window_end,
    first_activity) and every name in ALERTED_ACCOUNT_FEATURES.

    With `run_id`, the accounts that run alerted; without, each account as the first run that alerted it saw
    it. `rule_score` is the sum of the account's alert scores, the rules' own ranking of accounts; the account
    features are measured over that run's window.
    """
    alerted = con.execute(ALERTED_SQL, {"run_id": run_id}).pl()
    feature_names = [feature.name for feature in ACCOUNT_FEATURES]
    if alerted.is_empty():
        return alerted.with_columns(
            pl.lit(None, dtype=pl.Datetime).alias("first_activity"),
            *[pl.lit(None, dtype=pl.Float64).alias(name) for name in feature_names],
        )
    parts = []
    for (start, end), group in alerted.group_by(["window_start", "window_end"], maintain_order=True):
        window = Window(as_of=(end - timedelta(days=1)).date(), days=max((end - start).days, 1))
        accounts = group["account_no"].to_list()
        measured = account_features(con, window, keywords, accounts=accounts).select("account_no", *feature_names)
        first = con.execute(FIRST_ACTIVITY_SQL, {"start": start, "end": end, "accounts": accounts}).pl()
        parts.append(group.join(measured, on="account_no", how="left").join(first, on="account_no", how="left"))
    table = pl.concat(parts, how="vertical_relaxed")
    # an account alerted without payments of its own in the window (an actor's idle account) starts with it
    table = table.with_columns(pl.coalesce("first_activity", "window_start").alias("first_activity"))
    return table.with_columns([pl.col(name).cast(pl.Float64) for name in ALERTED_ACCOUNT_FEATURES]).sort("account_no")
