"""The room's offline copies (IndexedDB, ``frontend/src/offline.ts``) and its retries when
the server is busy (1013), in a real browser against real server processes."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from tests.browser.conftest import BrowserRun
from tests.support.factories import ProjectRoom
from tests.support.held_table import HeldTable
from tests.support.servers import TroupeServer
from tests.support.servers import test_database_url as database_url
from tests.support.storage_probe import load_script
from tests.support.waiting import wait_until
from workspace.models import Document

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture
def browser_on(
    chromium: str, frontend_built: Path, project_room: ProjectRoom
) -> Callable[[TroupeServer], BrowserRun]:
    """Browser scenarios against a server started with the test's own settings."""
    return lambda server: BrowserRun(server=server, room=project_room, chromium=chromium)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _api(browser: BrowserRun, document: str) -> str:
    return (
        f"{browser.server.http_url}/api/projects/{browser.room.project.slug}/documents/{document}"
    )


def _auth(browser: BrowserRun, member: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {browser.room.members[member].token}"}


def _snapshot(browser: BrowserRun) -> dict[str, Any]:
    response = httpx.post(
        f"{_api(browser, 'script')}/snapshots", json={}, headers=_auth(browser, "lead"), timeout=10
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _stored_text(browser: BrowserRun) -> str:
    """The script as a fresh process rebuilds it from storage."""
    return load_script(database_url(), browser.room.script.pk).text


def _committed(browser: BrowserRun, text: str) -> None:
    """Wait until the server has committed the script as ``text`` (HTTP ``/content``)."""
    wait_until(
        lambda: (
            httpx.get(
                f"{_api(browser, 'script')}/content", headers=_auth(browser, "lead"), timeout=10
            ).text
            == text
        ),
        10,
        f"the server did not commit {text!r}",
    )


def _refusals(codes: list[int]) -> list[int]:
    """Close codes by which the server refused something the page sent (a 44xx, 1007)."""
    return [code for code in codes if code >= 4000 or code == 1007]


def _unloaded(server: TroupeServer) -> bool:
    metrics = httpx.get(f"{server.http_url}/metrics", timeout=10).text
    return any(
        line.startswith("troupe_rooms_in_memory ") and float(line.split()[-1]) == 0
        for line in metrics.splitlines()
    )


def test_typed_while_the_server_is_down_survives_a_reload_and_reaches_a_fresh_process(
    browser: BrowserRun,
) -> None:
    server = browser.server
    before, offline = "INT. HARBOUR - NIGHT\n\n", "Typed while the server was down.\n"

    def act(event: str) -> None:
        if event == "stop":
            server.stop()
        elif event == "start":
            server.start()  # same port, a fresh process
        else:
            raise AssertionError(event)

    result = browser("offlinereload", on_event=act, before=before, offline=offline)
    assert result["beforeReload"]["state"] == "offline"
    assert result["beforeReload"]["pending"] > 0
    reloaded = result["afterReload"]
    # From IndexedDB, before any document socket was greeted (they are all refused).
    assert reloaded["text"] == before + offline
    assert reloaded["synced"] == [False, False]
    assert reloaded["shownAtMs"] < 3000, reloaded
    # The unsynced count came back with the copy.
    assert result["connectionAfterReload"]["state"] in {"offline", "connecting"}
    assert result["connectionAfterReload"]["pending"] > 0
    editor = browser.room.members["editor"].user
    assert len(result["storesBefore"]) == 2
    assert all(name.startswith(f"troupe-doc:{editor.pk}:") for name in result["storesBefore"])
    assert result["afterSync"] == {"state": "synced", "pending": 0, "text": "Synced"}
    assert result["text"] == before + offline
    assert not _refusals(result["closeCodes"]), result["closeCodes"]
    assert result["storesAfterSignOut"] == [], result["signOutMs"]  # deleted at sign-out
    assert result["errors"] == []
    # Storage holds it: a process that never served the document loads it from the database.
    _committed(browser, before + offline)
    assert _stored_text(browser) == before + offline
    # Credited to the person who typed it, offline client ID and all.
    credit = _snapshot(browser)["snapshot"]["credit"]
    editor_name = editor.get_username()
    assert set(credit["users"]) == {editor_name}
    assert credit["users"][editor_name]["surviving"] == utf16(before + offline)
    assert credit["length"] == utf16(before + offline)


def test_a_copy_from_before_a_restore_and_compaction_merges_after_a_reload(
    server_factory: Callable[..., TroupeServer], browser_on: Callable[[TroupeServer], BrowserRun]
) -> None:
    # Compaction every 2 log entries, and at unload (0.5 s idle in tests).
    server = server_factory(env={"TROUPE_COMPACT_EVERY_UPDATES": "2"})
    browser = browser_on(server)
    editor = browser.room.members["editor"].user
    first, second, offline = "Scene one.\n", "Scene two.\n", "Offline three.\n"
    snapshot: dict[str, Any] = {}

    def act(event: str) -> None:
        if event == "snapshot":
            _committed(browser, first)
            snapshot.update(_snapshot(browser))
        elif event == "restore":
            restored = httpx.post(
                f"{_api(browser, 'script')}/restore",
                json={"record": snapshot["id"]},
                headers=_auth(browser, "lead"),
                timeout=10,
            )
            assert restored.status_code == 200, restored.text
            wait_until(lambda: _unloaded(server), 10, "the room did not unload")
            stored = load_script(database_url(), browser.room.script.pk)
            assert stored.has_state_row and stored.text == first, stored  # compacted
        elif event == "remove-editor":
            removed = httpx.delete(
                f"{browser.server.http_url}/api/projects/{browser.room.project.slug}"
                f"/members/{editor.get_username()}",
                headers=_auth(browser, "lead"),
                timeout=10,
            )
            assert removed.status_code == 200, removed.text
        else:
            raise AssertionError(event)

    result = browser("offlinerestore", on_event=act, first=first, second=second, offline=offline)
    # The page embeds the stored state (with the restore's deletion of the second line) and
    # the pre-restore copy brings the line typed offline: both merge before any sync.
    assert result["afterReload"]["text"] == first + offline
    assert result["afterSync"] == {"state": "synced", "pending": 0, "text": "Synced"}
    # The restore removed the second line; the line typed offline after it stays.
    assert result["text"] == first + offline
    assert result["alertHidden"] is True
    assert not _refusals(result["closeCodes"]), result["closeCodes"]
    assert result["errors"] == []
    _committed(browser, first + offline)
    assert _stored_text(browser) == first + offline
    # Access removed (4403 on both documents): the copies are deleted.
    assert len(result["storesBeforeRemoval"]) == 2
    assert result["storesAfterRemoval"] == []


@pytest.mark.postgres_only
def test_a_busy_server_answers_1013_and_the_page_retries_with_jitter_keeping_its_edits(
    server_factory: Callable[..., TroupeServer], browser_on: Callable[[TroupeServer], BrowserRun]
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("holds a PostgreSQL table lock")
    # One admission at a time and nobody waiting: while one socket's admission hangs on
    # the held table, every other document socket is answered 1013.
    server = server_factory(
        env={"TROUPE_ADMISSION_CONCURRENCY": "1", "TROUPE_ADMISSION_QUEUE": "0"}
    )
    browser = browser_on(server)
    before, offline, during = "Before the storm.\n", "Typed offline.\n", "Typed while refused.\n"
    table = HeldTable(Document._meta.db_table)

    def act(event: str) -> None:
        if event == "hold":
            table.hold()
        elif event == "release":
            table.release()
        else:
            raise AssertionError(event)

    try:
        result = browser(
            "busy",
            on_event=act,
            before=before,
            offline=offline,
            during=during,
            panel="Offline panel",
            panelMore=", typed while waiting",
        )
    finally:
        table.release()
    sockets = result["sockets"]
    refused = [s for s in sockets if s["code"] == 1013]
    assert refused and all(s["url"].endswith("/script") for s in refused), sockets
    assert all("retry" in s["reason"] for s in refused), refused
    # Each refusal was followed by a retry of the script at least a second later (the
    # delay's jitter is checked in test_acks.py: backoff.ts).
    for closed in refused:
        later = [
            s["openedAt"]
            for s in sockets
            if s["url"] == closed["url"] and s["openedAt"] > closed["closedAt"]
        ]
        assert later, ("never retried", closed, sockets)
        assert min(later) - closed["closedAt"] >= 1000, (closed, sockets)
    assert result["whileRefused"]["pending"] > 0
    assert result["afterSync"] == {"state": "synced", "pending": 0, "text": "Synced"}
    assert result["text"] == before + offline + during
    assert [p["action"] for p in result["panels"]] == ["Offline panel, typed while waiting"]
    board = [s for s in sockets if s["url"].endswith("/board")]
    assert board[0]["code"] is None, board  # waited in its slot, was never refused
    assert result["alertHidden"] is True
    assert result["errors"] == []
    _committed(browser, before + offline + during)
    panels = httpx.get(
        f"{_api(browser, 'board')}/content", headers=_auth(browser, "lead"), timeout=10
    ).json()["panels"]
    assert [p["action"] for p in panels] == ["Offline panel, typed while waiting"]
