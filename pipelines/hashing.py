"""SHA-256 of a file: ingest keys a source file by it; exports, model cards and the audit record it to prove
which file was meant."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read in chunks so a large file never sits in memory whole."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
