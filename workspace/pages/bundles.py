"""The frontend bundles built from ``frontend/`` into ``frontend/dist`` (``make frontend``),
found through Vite's manifest so their hashed file names never need editing here.

An entry is split into chunks: the manifest lists, per chunk, the chunks it imports
statically (``imports``, keys of the manifest) and those it loads on demand
(``dynamicImports``). A page loads the entry's script and preloads its static imports,
all of them, transitively (``<link rel="modulepreload">``), so the browser fetches them
in parallel with the entry instead of after parsing it; the dynamic imports are left to
the script, which fetches them when (and if) it needs them.
"""

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.templatetags.static import static

logger = logging.getLogger(__name__)

MANIFEST = Path(settings.BASE_DIR) / "frontend" / "dist" / ".vite" / "manifest.json"
ROOM_ENTRY = "src/main.ts"


@dataclass(frozen=True, slots=True)
class Bundle:
    """The static URLs of an entry's script, the chunks it imports and the stylesheets."""

    script: str
    styles: tuple[str, ...]
    # The entry's static imports, transitively, in a stable order (for modulepreload).
    preloads: tuple[str, ...] = ()


def _static_imports(manifest: dict[str, Any], entry_name: str) -> list[str]:
    """The manifest keys ``entry_name`` imports statically, directly or not (itself not)."""
    seen: list[str] = []
    pending = list(manifest[entry_name].get("imports", ()))
    while pending:
        key = pending.pop(0)
        if key in seen or key == entry_name or key not in manifest:
            continue  # a chunk the manifest does not describe is left to the browser
        seen.append(key)
        pending.extend(manifest[key].get("imports", ()))
    return seen


@cache
def _bundle_for(entry_name: str, mtime_ns: int) -> Bundle | None:
    try:
        manifest = json.loads(MANIFEST.read_text())
        entry = manifest[entry_name]
        chunks = _static_imports(manifest, entry_name)
        styles = list(entry.get("css", ()))
        for key in chunks:  # a statically imported chunk's CSS applies from the start too
            styles += [css for css in manifest[key].get("css", ()) if css not in styles]
        return Bundle(
            script=static(entry["file"]),
            styles=tuple(static(css) for css in styles),
            preloads=tuple(static(manifest[key]["file"]) for key in chunks),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
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
