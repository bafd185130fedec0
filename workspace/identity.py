"""What others see of a connected user: id, display name and a stable colour."""

import hashlib
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

# Twelve hues far enough apart to tell cursors apart, readable on white.
_PALETTE = (
    "#d7263d",
    "#1b998b",
    "#2e86ab",
    "#f46036",
    "#5b2a86",
    "#3d9a40",
    "#c2185b",
    "#00838f",
    "#6d4c41",
    "#7b1fa2",
    "#ef6c00",
    "#283593",
)


def user_colour(user_id: int) -> str:
    """A colour that stays the same for a user across sessions and processes."""
    digest = hashlib.sha256(str(user_id).encode()).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def user_info(user: AbstractBaseUser) -> dict[str, Any]:
    """The ``user`` field the server sets in each connection's awareness state."""
    full_name = getattr(user, "get_full_name", lambda: "")()
    return {"id": user.pk, "name": full_name or user.get_username(), "color": user_colour(user.pk)}
