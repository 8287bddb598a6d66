"""Exports people read or other tools load: alert lists now; lead lists, campaign tables and dossiers next.

Every export goes through `reports.tables.write_table` (CSV or XLSX, formula injection neutralised) and is
recorded in the warehouse's `export_audit` with the file's SHA-256.
"""
