"""Derived warehouse tables the detectors read, rebuilt after new files load:
payments (two report lines of one payment → one row), parties (holder facts per account), actors."""

from __future__ import annotations

import duckdb

from pipelines.settings import Settings


def prepare_warehouse(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    from pipelines.warehouse.actors import resolve_actors
    from pipelines.warehouse.parties import refresh_parties
    from pipelines.warehouse.reconcile import rebuild_payments

    rebuild_payments(con, settings)
    refresh_parties(con)
    resolve_actors(con)
