"""The DuckDB warehouse: schema and migrations, and the tables derived from `txn`."""
