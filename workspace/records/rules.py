"""What a record is: intrinsic ids, canonical JSON, licences, media types, authors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from workspace.models import (
    Blob,
    DocumentKind,
    RecordKind,
)

RECORD_ID_PREFIX = "trp:rec:1:"
WORK_ID_PREFIX = "trp:work:1:"
CANONICAL_SCHEMA = "trp:record:1"

#: The non-exclusive grant every record is made under, by (id, version). A new wording
#: is a new version; records keep the version they were created under.
LICENCES: dict[tuple[str, str], str] = {
    ("troupe-nonexclusive", "1.0"): (
        "The authors keep ownership of this record and grant Troupe and its members a "
        "non-exclusive, worldwide, royalty-free licence to use, copy, adapt and remix it, "
        "and to use it in productions, where any money made is shared with the "
        "contributing artists under the production's payment terms."
    ),
}
CURRENT_LICENCE = ("troupe-nonexclusive", "1.0")

SNAPSHOT_KINDS = {
    DocumentKind.SCRIPT: RecordKind.SCRIPT_SNAPSHOT,
    DocumentKind.STORYBOARD: RecordKind.STORYBOARD_SNAPSHOT,
}
MEDIA_KINDS: dict[str, RecordKind] = {
    "image/png": RecordKind.IMAGE,
    "image/jpeg": RecordKind.IMAGE,
    "image/gif": RecordKind.IMAGE,
    "image/webp": RecordKind.IMAGE,
    "audio/mpeg": RecordKind.AUDIO,
    "audio/wav": RecordKind.AUDIO,
    "audio/ogg": RecordKind.AUDIO,
    "audio/flac": RecordKind.AUDIO,
    "audio/mp4": RecordKind.AUDIO,
    "video/mp4": RecordKind.VIDEO,
    "video/webm": RecordKind.VIDEO,
}
_MEDIA_ALIASES = {
    "image/jpg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
}
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"


class RecordRefused(Exception):
    """A record that cannot be made; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def canonical_json(value: Any) -> str:
    """The canonical serialisation: sorted keys, compact separators, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data``, lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def record_id_of(canonical: dict[str, Any]) -> str:
    """The intrinsic id of a record from its canonical metadata (anyone can recompute it)."""
    return RECORD_ID_PREFIX + sha256_hex(canonical_json(canonical).encode("utf-8"))


def fingerprint_of(canonical: dict[str, Any]) -> str:
    """What makes two versions identical: everything but creation time and lineage."""
    same = {k: v for k, v in canonical.items() if k not in ("created", "version")}
    return sha256_hex(canonical_json(same).encode("utf-8"))


def max_upload_bytes() -> int:
    """The upload size limit (``TROUPE_MAX_UPLOAD_BYTES``, 50 MiB by default)."""
    return int(settings.TROUPE["MAX_UPLOAD_BYTES"])


def sniff_media_type(head: bytes) -> str | None:
    """The media type the file's first bytes show, among the accepted ones."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def normalise_media_type(declared: str) -> str:
    """Lowercase, parameters dropped, common aliases mapped to their registered names."""
    base = declared.split(";", 1)[0].strip().lower()
    return _MEDIA_ALIASES.get(base, base)


@dataclass(frozen=True, slots=True)
class AuthorSpec:
    """An author of a new record and their roles."""

    user: User
    roles: tuple[str, ...]


def author_json(spec: AuthorSpec) -> dict[str, Any]:
    """An author as the canonical JSON holds them."""
    return {
        "username": spec.user.get_username(),
        "name": spec.user.get_full_name() or spec.user.get_username(),
        "roles": sorted(set(spec.roles)),
    }


def text_content(text: str) -> dict[str, Any]:
    """The canonical content description of a text record."""
    raw = text.encode("utf-8")
    return {"media_type": TEXT_MEDIA_TYPE, "sha256": sha256_hex(raw), "size": len(raw)}


def blob_content(blob: Blob) -> dict[str, Any]:
    """The canonical content description of an uploaded file."""
    return {"media_type": blob.media_type, "sha256": blob.sha256, "size": blob.size}
