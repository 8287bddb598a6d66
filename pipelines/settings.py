"""One settings object: where runtime files live and how the pipeline is configured.

Every file a run writes lives under the home folder (`--home`, `FUNDFLOW_HOME`, default `./var`).
Other values come from environment variables with the defaults below; nothing else is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("duckdb", "spark")
"""Where the sweep rules' SQL can run (DESIGN §7)."""
PREFECT_STARTUP_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
"""Prefect 3's own setting (server.ephemeral.startup_timeout_seconds) for the temporary API's start-up wait."""


def _whole_seconds(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(
            f"Prefect 启动等待应为正整数秒 / FUNDFLOW_PREFECT_STARTUP_SECONDS must be whole seconds > 0: '{text}'"
        )
    return int(text)


@dataclass(frozen=True)
class Settings:
    home: Path
    """Folder holding every runtime file (warehouse, case store, inbox, archive, exports, logs)."""
    timezone: str = "Asia/Shanghai"
    """Time zone of report times and of the nightly schedule."""
    rules_dir: Path = PROJECT_ROOT / "rules"
    """Folder of the rule pack (one YAML file per rule)."""
    cases_url: str = ""
    """SQLAlchemy URL of the case store; empty means SQLite at <home>/cases.sqlite."""
    county_code: str = "330782"
    """6-digit region code of the office's county (T12 counts payers from outside it)."""
    nightly_cron: str = "0 2 * * *"
    """Cron of the nightly run, in `timezone`."""
    duckdb_memory_limit: str = "2GB"
    """Upper bound on DuckDB's memory; it spills to <home>/tmp beyond it."""
    payment_match_minutes: int = 10
    """Two report lines of one payment may differ in time by up to this many minutes."""
    prefect_startup_seconds: int = 180
    """How long to wait for the temporary Prefect API to come up (a busy 2-core machine needs more than
    Prefect's own 20 s). FUNDFLOW_PREFECT_STARTUP_SECONDS, else Prefect's own setting, else this."""
    console_idle_minutes: int = 30
    """A console session unused for this many minutes ends; the user logs in again."""
    tip_feedback_days: int = 15
    """Days from receiving a public tip (群众举报) to answering the reporter; later answers are overdue."""
    detect_engine: str = "duckdb"
    """Where the sweep rules' SQL runs: duckdb (this server) or spark (FUNDFLOW_ENGINE; `detect --engine`)."""
    spark_master: str = "local[2]"
    """Spark master URL for --engine spark: local[2] on this machine, spark://host:7077 or yarn on a cluster."""
    spark_tables: str = ""
    """Where Spark finds the payment tables: empty = the warehouse exported as parquet for each run; else a
    parquet folder (one <table>/ or <table>.parquet each) or hive:<database> (FUNDFLOW_SPARK_TABLES)."""
    spark_driver_memory: str = "2g"
    """Heap of the Spark driver JVM with a local master, where it is also the executor (FUNDFLOW_SPARK_DRIVER_MEMORY,
    e.g. 6g for 10M payments); a cluster's spark-defaults.conf or spark-submit sets its own."""
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, home: str | os.PathLike | None = None) -> Settings:
        env = os.environ
        home_path = Path(home or env.get("FUNDFLOW_HOME") or "var").resolve()
        settings = cls(
            home=home_path,
            timezone=env.get("FUNDFLOW_TZ", cls.timezone),
            rules_dir=Path(env.get("FUNDFLOW_RULES", str(cls.rules_dir))).resolve(),
            cases_url=env.get("FUNDFLOW_CASES_URL", ""),
            county_code=env.get("FUNDFLOW_COUNTY", cls.county_code),
            nightly_cron=env.get("FUNDFLOW_CRON", cls.nightly_cron),
            duckdb_memory_limit=env.get("FUNDFLOW_DUCKDB_MEMORY", cls.duckdb_memory_limit),
            prefect_startup_seconds=_whole_seconds(
                env.get("FUNDFLOW_PREFECT_STARTUP_SECONDS")
                or env.get(PREFECT_STARTUP_SETTING)
                or str(cls.prefect_startup_seconds)
            ),
            console_idle_minutes=_whole_number(env, "FUNDFLOW_CONSOLE_IDLE_MINUTES", cls.console_idle_minutes),
            tip_feedback_days=_whole_number(env, "FUNDFLOW_TIP_FEEDBACK_DAYS", cls.tip_feedback_days),
            detect_engine=env.get("FUNDFLOW_ENGINE", cls.detect_engine).strip().lower(),
            spark_master=env.get("FUNDFLOW_SPARK_MASTER", "").strip() or cls.spark_master,
            spark_tables=env.get("FUNDFLOW_SPARK_TABLES", cls.spark_tables).strip(),
            spark_driver_memory=env.get("FUNDFLOW_SPARK_DRIVER_MEMORY", "").strip() or cls.spark_driver_memory,
        )
        settings.check()
        return settings

    def check(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"未知时区 / unknown time zone '{self.timezone}' (FUNDFLOW_TZ)") from None
        if not (len(self.county_code) == 6 and self.county_code.isdigit()):
            raise ConfigError(f"县区划代码应为 6 位数字 / county code must be 6 digits: '{self.county_code}'")
        if self.detect_engine not in ENGINES:
            raise ConfigError(
                f"未知检测引擎 / unknown detection engine '{self.detect_engine}' (FUNDFLOW_ENGINE): "
                f"use {' or '.join(ENGINES)}"
            )
        if not re.fullmatch(r"[1-9][0-9]*[kmgt]", self.spark_driver_memory.lower()):
            raise ConfigError(
                f"Spark 驱动内存格式错误 / FUNDFLOW_SPARK_DRIVER_MEMORY must be a size like 2g or 6144m, "
                f"got '{self.spark_driver_memory}'"
            )

    @property
    def institutions_rules_dir(self) -> Path:
        """Scorecard parameters and the year's public holidays (`rules/institutions/`)."""
        return self.rules_dir / "institutions"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def case_store_url(self) -> str:
        return self.cases_url or f"sqlite:///{self.home / 'cases.sqlite'}"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def tmp(self) -> Path:
        return self.home / "tmp"

    def apply_prefect_environment(self) -> None:
        """Keep Prefect offline and its files under the home folder; must run before Prefect is imported.

        Prefect creates its home with a plain mkdir, so the home folder is made here first. When
        PREFECT_API_URL is set, Prefect uses that server and no temporary one is started."""
        os.environ.setdefault("PREFECT_HOME", str(self.prefect_home))
        Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
        os.environ[PREFECT_STARTUP_SETTING] = str(self.prefect_startup_seconds)
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("DO_NOT_TRACK", "1")

    def ensure_folders(self) -> None:
        for folder in (self.home, self.inbox, self.archive, self.exports, self.prefect_home, self.logs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)


def _whole_number(env, name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} 应为正整数 / {name} must be a whole number above 0: '{text}'")
    return int(text)
