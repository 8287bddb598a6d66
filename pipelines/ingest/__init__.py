"""Ingest: institution report files (CSV, XLSX, BH/BS XML) → validated rows in the warehouse."""
