"""Notes (备注) on a lead or on one of its accounts, with attachments stored under the home folder by content
hash (<home>/attachments/<sha256[:2]>/<sha256>), size- and type-limited. Every note is an event in the lead's
hash-chained log, naming its files and their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.cases import lifecycle
from pipelines.cases.store import CaseStore, attachments, notes
from pipelines.errors import FundflowError
from pipelines.masking import mask_account
from pipelines.settings import Settings

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_NOTE_CHARS = 5000
# Suffix → media type served back; anything else is refused (no executables, no HTML that could run script).
ALLOWED_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain; charset=utf-8",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


def folder(settings: Settings) -> Path:
    return settings.home / "attachments"


def path_of(settings: Settings, sha256: str) -> Path:
    return folder(settings) / sha256[:2] / sha256


def check_upload(upload: Upload) -> str:
    """The media type of an acceptable file; refuses empty, oversized and unlisted kinds, naming the file."""
    name = os.path.basename(upload.filename or "").strip()
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_TYPES:
        raise FundflowError(
            f"附件「{name}」类型不允许，只接受 {'、'.join(sorted(ALLOWED_TYPES))} / file type not allowed: {name}"
        )
    if not upload.content:
        raise FundflowError(f"附件「{name}」是空文件 / empty file: {name}")
    if len(upload.content) > MAX_FILE_BYTES:
        raise FundflowError(f"附件「{name}」超过 {MAX_FILE_BYTES // 1024 // 1024} MB / file too large: {name}")
    return ALLOWED_TYPES[suffix]


def add_note(
    store: CaseStore,
    settings: Settings,
    lead_id: str,
    user: str,
    text: str,
    account_no: str | None = None,
    uploads: tuple[Upload, ...] = (),
) -> int:
    """Record a note (and its files) on a lead; returns the event's seq. Files are written before the note
    commits: a refused note leaves at most an unreferenced file, never a note pointing at nothing."""
    text = (text or "").strip()
    if not text:
        raise FundflowError("备注内容不能为空 / a note needs text")
    if len(text) > MAX_NOTE_CHARS:
        raise FundflowError(f"备注不超过 {MAX_NOTE_CHARS} 字 / a note is at most {MAX_NOTE_CHARS} characters")
    checked = [(upload, check_upload(upload), hashlib.sha256(upload.content).hexdigest()) for upload in uploads]
    for upload, _media, sha256 in checked:
        target = path_of(settings, sha256)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(upload.content)
            os.replace(partial, target)
    with store.write() as conn:
        lead = store.lock_lead(conn, lead_id)
        person = store.get_user(user, conn)
        if person["disabled"] or person["role"] not in lifecycle.WORKERS:
            raise FundflowError("只有分析员、复核员和主管可以写备注 / only workers add notes")
        now = store.now()
        files = [
            {"name": os.path.basename(upload.filename), "sha256": sha256, "size": len(upload.content)}
            for upload, _media, sha256 in checked
        ]
        seq = store.append_event(
            conn,
            lead_id,
            user,
            "note",
            text,
            lead["status"],
            lead["status"],
            {"account": mask_account(account_no) if account_no else None, "attachments": files},
            now,
        )
        inserted = conn.execute(
            notes.insert().values(
                lead_id=lead_id, account_no=account_no, text=text, created_by=user, created_at=now, event_seq=seq
            )
        ).inserted_primary_key
        assert inserted is not None  # an INSERT of one row always reports its key
        note_id = inserted[0]
        for upload, media, sha256 in checked:
            conn.execute(
                attachments.insert().values(
                    note_id=note_id,
                    lead_id=lead_id,
                    sha256=sha256,
                    filename=os.path.basename(upload.filename),
                    media_type=media,
                    size=len(upload.content),
                    created_by=user,
                    created_at=now,
                )
            )
    return seq
