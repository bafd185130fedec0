"""Storyboard moves in real browsers (schema v2, issue #24): a move sets only a panel's
order key, so whoever is typing in a panel keeps their focus, caret and text while others
reorder the board, and moves by any Yjs client show live."""

import asyncio

import httpx
import pytest

from crdt.storyboard import valid_order_key
from tests.browser.conftest import BrowserRun, stored_content
from tests.support.node_client import NodeYjsClient

pytestmark = [pytest.mark.live, pytest.mark.slow]

# 240 characters typed key by key: long enough that many moves land mid-note.
NOTE = (
    "Slow push in on the lighthouse keeper as the storm hits; hold on her hands, then rack "
    "focus to the lamp. Rain streaks the glass, thunder under the dialogue, keep the cut "
    "soft and let the beam sweep twice before we leave her in the dark."
)


def test_typist_keeps_focus_caret_and_text_while_another_user_reorders(
    browser: BrowserRun,
) -> None:
    assert len(NOTE) >= 200
    result = browser("typingmoves", note=NOTE, keyDelayMs=25, minMoves=8, maxMoves=150)
    assert result["errors"] == []
    moves, checks = result["moves"], result["checks"]
    target = result["target"]
    # The panel itself and the others went up and down, by buttons and keys, mid-typing.
    during = [m for m in moves if m["duringTyping"]]
    assert len(during) >= 4, moves
    assert {m["how"] for m in during} == {"button", "keys"}
    assert {m["dir"] for m in during if m["id"] == target} == {"up", "down"}
    assert any(m["id"] != target for m in during)
    # After every move (seen in the typist's page) the typist's textarea is the same element,
    # still focused, with the caret where typing continues.
    assert len(checks) == len(moves)
    for move, check in zip(moves, checks, strict=True):
        assert (check["focused"], check["connected"], check["caretAtEnd"]) == (True, True, True), (
            move,
            check,
        )
    assert [c["length"] for c in checks] == sorted(c["length"] for c in checks)
    # The mover's own focus stays in the card it moved (keys: the caption it was in).
    for move in moves:
        assert move["moverFocus"]["panel"] == move["id"], move
        if move["how"] == "keys":
            assert move["moverFocus"]["cls"] == "panel-dialogue", move
    end = result["typistEnd"]
    assert end == {
        "focused": True,
        "value": NOTE,
        "selectionStart": len(NOTE),
        "selectionEnd": len(NOTE),
    }
    assert result["moverNote"] == NOTE
    assert result["finalOrderMover"] == result["finalOrderTypist"]
    assert result["panelsMover"] == result["panelsTypist"]
    assert sorted(result["finalOrderMover"]) == sorted(result["panelIds"])  # no copies

    # Stored: the same panels in the same order, the note whole in its panel.
    def settled(response: httpx.Response) -> bool:
        panels = response.json()["panels"]
        return [p["id"] for p in panels] == result["finalOrderMover"] and any(
            p["id"] == target and p["notes"] == NOTE for p in panels
        )

    stored = stored_content(browser, "board", settled).json()["panels"]
    assert [p["id"] for p in stored] == result["finalOrderMover"]
    assert next(p for p in stored if p["id"] == target)["notes"] == NOTE
    assert all("order" not in p for p in stored)

    # Credit: the typist wrote the note (and made the panels); the mover, who only moved
    # panels, is credited with nothing.
    room = browser.room
    typist = room.members["editor"].user
    mover = room.members["lead"].user
    response = httpx.post(
        f"{browser.server.http_url}/api/projects/{room.project.slug}/documents/board/snapshots",
        json={"title": "After the moves"},
        headers={"Authorization": f"Bearer {room.members['lead'].token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    users = response.json()["snapshot"]["credit"]["users"]
    captions = sum(len(f"Panel {i}") for i in range(4))
    typist_credit = users[typist.get_username()]
    mover_credit = users.get(mover.get_username(), {})
    assert typist_credit["panels_created"] == 4
    assert typist_credit["surviving"] == len(NOTE) + captions
    assert typist_credit["typed"] == len(NOTE) + captions
    for key in ("panels_created", "fields_set", "surviving", "typed", "panels_deleted"):
        assert mover_credit.get(key, 0) == 0, (key, mover_credit)


def test_a_move_by_a_stock_yjs_client_shows_live_in_the_page(browser: BrowserRun) -> None:
    room = browser.room
    editor = room.members["editor"]

    async def stock_move() -> list[str]:
        async with NodeYjsClient(
            browser.server.ws_url, room.room(room.storyboard), token=editor.token
        ) as client:
            await client.connect()
            await client.wait_synced()
            panels = await client.wait_panels(length=3)
            assert [p["action"] for p in panels] == ["One", "Two", "Three"]
            await client.move_panel(panels[2]["id"], 0)
            await client.add_panel(action="Four (stock)")
            return [p["id"] for p in await client.get_panels()]

    def actions(response: httpx.Response) -> list[str]:
        return [p["action"] for p in response.json()["panels"]]

    def on_event(event: str) -> None:
        assert event == "stock-move"
        # The page's three panels are stored, so the stock client syncs them from the server.
        stored_content(browser, "board", lambda r: actions(r) == ["One", "Two", "Three"])
        expected = asyncio.run(stock_move())
        # Stored before the client leaves: the page sees the move from the server.
        stored_content(
            browser, "board", lambda r: [p["id"] for p in r.json()["panels"]] == expected
        )

    result = browser("stockmove", on_event=on_event)
    assert result["errors"] == []
    assert [p["action"] for p in result["before"]] == ["One", "Two", "Three"]
    assert [p["action"] for p in result["after"]] == ["Three", "One", "Two", "Four (stock)"]
    assert result["after"][0]["id"] == result["before"][2]["id"]
    assert result["sameDocument"] is True  # no reload
    assert result["sameCards"] is True  # the cards were moved, not rebuilt
    assert result["titles"] == ["Panel 1", "Panel 2", "Panel 3", "Panel 4"]
    assert result["after"][3]["duration"] == "2"
    assert [p["action"] for p in result["afterDelete"]] == ["Three", "Two", "Four (stock)"]
    stored = stored_content(browser, "board", lambda r: len(r.json()["panels"]) == 3).json()[
        "panels"
    ]
    assert [p["action"] for p in stored] == ["Three", "Two", "Four (stock)"]
    assert stored[2] == {
        "id": result["after"][3]["id"],
        "action": "Four (stock)",
        "dialogue": "",
        "notes": "",
        "duration_ms": 2000,
        "shot_size": "",
    }


def test_a_move_into_a_gap_between_equal_keys_rekeys_the_neighbour(browser: BrowserRun) -> None:
    result = browser("collision")
    assert result["errors"] == []
    tied = result["tied"]
    assert tied[0]["order"] == tied[1]["order"]
    assert tied[0]["id"] < tied[1]["id"]  # equal keys sort by id
    after = result["after"]
    tied_first, tied_second = tied[0]["id"], tied[1]["id"]
    assert [p["id"] for p in after] == [tied_first, tied[2]["id"], tied_second]
    keys = [p["order"] for p in after]
    assert keys[0] == tied[0]["order"]  # the panel before the gap keeps its key
    assert keys[0] < keys[1] < keys[2]
    assert all(valid_order_key(k) for k in keys)
    stored = stored_content(
        browser,
        "board",
        lambda r: [p["id"] for p in r.json()["panels"]] == [p["id"] for p in after],
    ).json()["panels"]
    assert [p["action"] for p in stored] == [tied[0]["action"], "C", tied[1]["action"]]


def test_a_board_socket_closed_with_4422_asks_for_a_reload(browser: BrowserRun) -> None:
    result = browser("outdated")
    assert result["routed"] == 1
    assert result["alert"]["hidden"] is False
    assert result["alert"]["text"] == (
        "This page is out of date with the storyboard's format: reload the page to keep"
        " working. (update breaks the storyboard schema)"
    )
    assert result["boardState"] == "stopped"
    assert result["scriptState"] == "online"
    assert result["connection"]["state"] == "stopped"
    assert result["errors"] == []
