"""How fast the project room page becomes usable in Chromium: figures for tests and benchmarks.

``measure_room_load`` drives ``room_load.mjs`` (playwright-core and the system Chromium)
against a running server and returns, per cycle, a cold load (a fresh browser context: an
empty HTTP cache) and a warm one (the same context navigating again). Each load's
``usable`` is the time from navigation start until a character typed into the script
editor reached its Y.Text, once the editor showed the stored script; ``bytes`` is what
was transferred before that point (the HTML and every resource that ended by then, as
Resource Timing's ``transferSize``: headers included, 0 for a cache hit; websocket traffic
not counted). ``summarize`` reduces the runs to medians. Nothing here asserts a time: the
caller decides what to check (tests: correctness; benchmarks: targets).
"""

import json
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("room_load.mjs")
ROOT = Path(__file__).resolve().parents[2]


class RoomLoadFailed(RuntimeError):
    """The measurement did not complete (the page never became usable, sign-in failed)."""


@dataclass(frozen=True, slots=True)
class RoomLoadTarget:
    """Where and as whom to load the room."""

    base: str  # http://127.0.0.1:8000
    project: str
    username: str
    password: str
    chromium: str
    needle: str  # text of the stored script the editor must show before typing
    document: str | None = None  # /p/<project>/d/<document> instead of /p/<project>/


def markers(cycles: int, tag: str = "") -> list[tuple[str, str]]:
    """Distinct texts to type in each load (cold, warm) of each cycle."""
    return [(f"@{tag}c{i}@", f"@{tag}w{i}@") for i in range(cycles)]


def measure_room_load(
    target: RoomLoadTarget, *, cycles: int = 3, tag: str = "", timeout: float = 120
) -> list[dict[str, Any]]:
    """``cycles`` times (cold load, warm load) of the room, as ``room_load.mjs`` returns them.

    Raises ``RoomLoadFailed`` with the script's error when a load did not become usable.
    """
    node = shutil.which("node") or "node"
    config = {
        "base": target.base,
        "project": target.project,
        "document": target.document,
        "username": target.username,
        "password": target.password,
        "chromium": target.chromium,
        "needle": target.needle,
        "markers": markers(cycles, tag),
    }
    proc = subprocess.run(
        [node, str(SCRIPT), json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RoomLoadFailed(f"no result (exit {proc.returncode}): {proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    if not result.get("ok"):
        raise RoomLoadFailed(
            f"{result.get('error')}\npage errors: {result.get('pageErrors')}\n{proc.stderr[-2000:]}"
        )
    runs: list[dict[str, Any]] = result["runs"]
    return runs


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per kind of load: times in ms from navigation start, bytes in KB."""
    out: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        loads = [run[kind] for run in runs]
        out[kind] = {
            "usable_ms": _median([load["usable"] for load in loads]),
            "usable_ms_runs": [round(load["usable"]) for load in loads],
            "content_ms": _median([load["content"] for load in loads]),
            "entry_ran_ms": _median([load["start"] for load in loads]),
            "fcp_ms": _median([load["fcp"] for load in loads]),
            "synced_ms": _median([load["synced"] for load in loads]),
            "kb_before_usable": _median([load["bytes"] / 1024 for load in loads]),
        }
    return out
