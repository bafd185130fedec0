"""The frontend bundles built from ``frontend/`` into ``frontend/dist`` (``make frontend``),
found through Vite's manifest so their hashed file names never need editing here.
"""

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from django.templatetags.static import static

logger = logging.getLogger(__name__)

MANIFEST = Path(settings.BASE_DIR) / "frontend" / "dist" / ".vite" / "manifest.json"
ROOM_ENTRY = "src/main.ts"


@dataclass(frozen=True, slots=True)
class Bundle:
    """The static URLs of the room's script and stylesheets."""

    script: str
    styles: tuple[str, ...]


@cache
def _bundle_for(entry_name: str, mtime_ns: int) -> Bundle | None:
    try:
        entry = json.loads(MANIFEST.read_text())[entry_name]
        return Bundle(
            script=static(entry["file"]),
            styles=tuple(static(css) for css in entry.get("css", ())),
        )
    except (OSError, ValueError, KeyError, TypeError):
        logger.exception("frontend manifest unreadable", extra={"path": str(MANIFEST)})
        return None


def frontend_bundle(entry_name: str = ROOM_ENTRY) -> Bundle | None:
    """The built bundle of one entry (a key of Vite's manifest, e.g. ``src/main.ts``).

    None when ``make frontend`` has not run; re-read whenever the build changes.
    """
    try:
        mtime_ns = MANIFEST.stat().st_mtime_ns
    except OSError:
        return None
    return _bundle_for(entry_name, mtime_ns)
