"""API token format and hashing: tokens are shown once and stored as SHA-256 only."""

import hashlib
import secrets

TOKEN_PREFIX = "trp_"  # noqa: S105 - a public marker that makes leaked tokens greppable


def token_generate() -> str:
    """A new random token string (the only time the raw token exists)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(raw: str) -> str:
    """The stored form of a token: SHA-256, hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
