"""Exports of live documents: Fountain, printable HTML and storyboard JSON.

Every piece of user text reaches HTML through Django's autoescaping templates; the one
fragment marked safe is ``crdt.fountain.render_html``'s output, which escapes all user
text itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from crdt.fountain import parse, render_html
from crdt.snapshots import normalise_panels

EXPORT_FORMATS: dict[str, tuple[str, ...]] = {
    "script": ("fountain", "html"),
    "storyboard": ("json", "html"),
}


def format_duration(ms: int) -> str:
    """``m:ss.s`` as the storyboard editor shows durations."""
    tenths = round(ms / 100)
    minutes, rest = divmod(tenths, 600)
    return f"{minutes}:{rest / 10:04.1f}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _duration_ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not math.isfinite(value) or value <= 0:
        return 0
    return round(value)


@dataclass(frozen=True, slots=True)
class PanelRow:
    """One storyboard panel as exported, with its start and the running total."""

    number: int
    id: str
    action: str
    dialogue: str
    notes: str
    shot_size: str
    duration_ms: int
    starts_at_ms: int
    running_total_ms: int
    image: str
    image_url: str

    @property
    def duration(self) -> str:
        return format_duration(self.duration_ms)

    @property
    def running_total(self) -> str:
        return format_duration(self.running_total_ms)

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "id": self.id,
            "action": self.action,
            "dialogue": self.dialogue,
            "notes": self.notes,
            "shot_size": self.shot_size,
            "duration_ms": self.duration_ms,
            "starts_at_ms": self.starts_at_ms,
            "image": self.image or None,
        }


def _image_url(image: str) -> str:
    # Only record ids and http(s) URLs become links: never javascript: or data: URLs.
    if image.startswith("trp:rec:"):
        return f"/records/{image}"
    if image.lower().startswith(("https://", "http://")):
        return image
    return ""


def panel_rows(panels: list[dict[str, Any]]) -> list[PanelRow]:
    """The panels in order with numbers, durations and running totals."""
    rows: list[PanelRow] = []
    total = 0
    for n, panel in enumerate(normalise_panels(panels), start=1):
        if not isinstance(panel, dict):
            panel = {"action": _text(panel)}
        duration = _duration_ms(panel.get("duration_ms"))
        image = _text(panel.get("image") or panel.get("image_url") or "")
        rows.append(
            PanelRow(
                number=n,
                id=_text(panel.get("id")),
                action=_text(panel.get("action") or panel.get("caption")),
                dialogue=_text(panel.get("dialogue")),
                notes=_text(panel.get("notes")),
                shot_size=_text(panel.get("shot_size")),
                duration_ms=duration,
                starts_at_ms=total,
                running_total_ms=total + duration,
                image=image,
                image_url=_image_url(image),
            )
        )
        total += duration
    return rows


def storyboard_json(title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """The storyboard export: panels with durations and notes, and the total duration."""
    rows = panel_rows(panels)
    total = rows[-1].running_total_ms if rows else 0
    return {
        "title": title,
        "panels": [row.as_json() for row in rows],
        "panel_count": len(rows),
        "total_duration_ms": total,
        "total_duration": format_duration(total),
    }


def script_html(text: str) -> SafeString:
    """The rendered screenplay; ``render_html`` escapes every piece of user text."""
    return mark_safe(render_html(parse(text)))  # noqa: S308 - render_html escapes user text
