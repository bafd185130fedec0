"""The room page's loading, production-like (DEBUG=0): how soon the script editor takes
typing, cold and warm, and what was transferred by then (reported, not asserted: speed
targets are checked by benchmarks), and how static files are cached and compressed."""

import gzip
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import (
    ARTIFACTS,
    METRICS,
    BrowserRun,
    bundle_sizes,
    chunk_sizes,
    stored_content,
)
from tests.browser.test_room import SAMPLE_SCRIPT
from tests.support.factories import PASSWORD, ProjectRoom
from tests.support.room_load import RoomLoadTarget, measure_room_load, summarize
from tests.support.servers import TroupeServer
from tests.workspace.test_snapshots import Writer

pytestmark = [pytest.mark.live, pytest.mark.slow]

CYCLES = 3
NEEDLE = "Another day, another letter."


def production_env() -> dict[str, str]:
    """DEBUG off as in production; plain HTTP on 127.0.0.1 (no TLS in tests)."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TROUPE_SSL_REDIRECT": "0",
    }


def seed_demo_content(room: ProjectRoom) -> None:
    """The script and storyboard of the perf scenario: a short scene and three panels."""
    lead = room.members["lead"].user
    Writer(lead, room.script, 9101).insert(0, SAMPLE_SCRIPT)
    Writer(lead, room.storyboard, 9102).add_panels(
        *(
            {"id": f"p{i}", "action": caption, "shot_size": shot, "duration_ms": 2000}
            for i, (caption, shot) in enumerate(
                [
                    ("Wide: the city wakes", "WS"),
                    ("Medium: Mara at the window", "MS"),
                    ("Close-up: the letter", "CU"),
                ]
            )
        )
    )


def test_room_page_usable_cold_and_warm_reported(
    chromium: str,
    frontend_built: Any,
    server_factory: Callable[..., TroupeServer],
    project_room: ProjectRoom,
) -> None:
    seed_demo_content(project_room)
    server = server_factory(env=production_env())
    lead = project_room.members["lead"].user
    target = RoomLoadTarget(
        base=server.http_url,
        project=project_room.project.slug,
        username=lead.get_username(),
        password=PASSWORD,
        chromium=chromium,
        needle=NEEDLE,
    )
    runs = measure_room_load(target, cycles=CYCLES)
    early = sum(
        run[kind]["synced"] is None or run[kind]["usable"] < run[kind]["synced"]
        for run in runs
        for kind in ("cold", "warm")
    )
    before_script = sum(
        run[kind]["usable"] < run[kind]["docSynced"].get("script", float("inf"))
        for run in runs
        for kind in ("cold", "warm")
    )
    METRICS["room_load"] = {
        **summarize(runs),
        "typed_before_every_document_synced": f"{early} of {2 * len(runs)}",
        "typed_before_the_script_synced": f"{before_script} of {2 * len(runs)}",
        "bundle": bundle_sizes(),
        "chunks": chunk_sizes(),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "room-load.json").write_text(json.dumps(runs, indent=1))
    browser = BrowserRun(server=server, room=project_room, chromium=chromium)
    typed = [run[kind]["marker"] for run in runs for kind in ("cold", "warm")]
    for run in runs:
        assert run["errors"] == []
        for kind in ("cold", "warm"):
            load = run[kind]
            assert load["usable"] is not None and load["usable"] > 0
            assert load["marker"] in load["text"]
            assert NEEDLE in load["text"]
    stored = stored_content(browser, "script", lambda r: all(m in r.text for m in typed)).text
    assert all(m in stored for m in typed), stored
    # Typed on the embedded state, often before the socket synced: merged, not doubled.
    assert stored.count(NEEDLE) == 1, stored


def test_hashed_static_files_are_cached_for_good_and_served_compressed(
    frontend_built: Path, server_factory: Callable[..., TroupeServer]
) -> None:
    server = server_factory(env=production_env())
    manifest = json.loads((frontend_built / ".vite" / "manifest.json").read_text())
    entry = manifest["src/main.ts"]
    chunks = [entry["file"], *entry["css"]]
    chunks += [manifest[key]["file"] for key in entry["dynamicImports"]]
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        for name in chunks:
            raw = (frontend_built / name).read_bytes()
            plain = http.get(f"/static/{name}", headers={"Accept-Encoding": "identity"})
            assert plain.status_code == 200, name
            assert plain.headers["Cache-Control"] == "max-age=315360000, public, immutable"
            assert "Content-Encoding" not in plain.headers
            assert plain.content == raw
            assert plain.headers["Vary"] == "Accept-Encoding"
            for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
                headers = {"Accept-Encoding": encoding}
                with http.stream("GET", f"/static/{name}", headers=headers) as packed:
                    body = b"".join(packed.iter_raw())
                assert packed.headers["Content-Encoding"] == encoding, name
                assert packed.headers["Cache-Control"] == plain.headers["Cache-Control"]
                assert body == (frontend_built / f"{name}{suffix}").read_bytes()
                assert len(body) < len(raw) or len(raw) < 200
            with http.stream("GET", f"/static/{name}", headers={"Accept-Encoding": "gzip"}) as r:
                assert gzip.decompress(b"".join(r.iter_raw())) == raw  # the same file
        # Not hashed: a short max-age, never "immutable".
        unhashed = http.get("/static/.vite/manifest.json")
        assert unhashed.status_code == 200
        assert unhashed.headers["Cache-Control"] == "max-age=60, public"
