"""Exports people read or other tools load: alert lists, lead lists, the campaign tables and per-lead dossiers.

Tables go through `reports.tables` (CSV or XLSX, formula injection neutralised); every file exported is
recorded in the case-store audit with its SHA-256 (`reports.tables.record_export`).
"""
