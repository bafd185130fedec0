"""The room's live parts in a real browser: calls, live sessions and following, invisible
mode, snapshots and panel images, each against the real server and its room socket."""

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.conftest import BrowserRun, stored_content
from tests.support.servers import TroupeServer
from workspace.models import Call, Preference, Record, RecordKind
from workspace.notifications.services import interests_set

pytestmark = [pytest.mark.live, pytest.mark.slow]

SCENE_HEADINGS = ["INT. LIGHTHOUSE - NIGHT", "EXT. CLIFF - DAWN", "INT. BOATHOUSE - DAY"]


@pytest.fixture
def live(server_factory: Callable[..., TroupeServer], tmp_path: Path) -> TroupeServer:
    """The live server, with uploads kept in the test's own directory."""
    return server_factory(env={"TROUPE_MEDIA_ROOT": str(tmp_path / "media")})


def _ids(browser: BrowserRun) -> dict[str, int]:
    return {name: int(m.user.pk) for name, m in browser.room.members.items()}


def _long_script() -> str:
    # Scenes long enough that each one needs scrolling to reach.
    filler = "".join(f"Line {n} of the action goes on.\n\n" for n in range(40))
    return "".join(f"{heading}\n\n{filler}" for heading in SCENE_HEADINGS)


def test_a_call_posted_by_the_lead_appears_in_a_contributors_page_and_bell(
    browser: BrowserRun,
) -> None:
    editor = browser.room.members["editor"].user
    interests_set(user_id=editor.pk, interests=["illustration"])
    title = "Storyboard artist <b>wanted</b>"
    result = browser(
        "callslive", callTitle=title, callInstructions="Two panels of the harbour at dawn."
    )
    call = Call.objects.get(project=browser.room.project)
    assert call.is_open is False  # closed by the lead from the panel
    assert (call.title, call.interest) == (title, "illustration")
    assert result["editorIdsBefore"] == []
    assert result["editorIdsAfter"] == [str(call.pk)]
    assert result["leadIdsAfter"] == [str(call.pk)]
    assert result["reloaded"] == 0, "the contributor's page reloaded"
    assert result["editorBellAfter"] == result["editorBellBefore"] + 1
    assert result["editorBellText"] == str(result["editorBellAfter"])
    assert title in result["editorBellAnnounced"]
    seen = result["editorCall"]
    assert seen["title"] == title
    assert "<b>" not in seen["titleHtml"]  # shown as text
    assert seen["state"] == "open"
    assert seen["meta"].startswith("Illustration · Open")
    assert seen["instructions"] == "Two panels of the harbour at dawn."
    response = call.responses.get()
    assert response.responder == browser.room.members["editor"].user
    assert result["leadResponse"]["href"] == f"/records/{response.record.rid}"
    assert "submitted" in result["leadResponse"]["text"]
    assert result["editorHasLeadTools"] == 0
    assert result["editorClosed"] == {"meta": "Illustration · Closed", "respondHidden": True}
    assert "Harbour table read" in result["editorSessionStatus"]
    assert result["phoneOverflow"] <= 0
    assert result["errors"] == []


def test_spotlight_moves_a_follower_and_leaves_a_decliner_until_they_scroll_away(
    browser: BrowserRun,
) -> None:
    result = browser(
        "spotlight", ids=_ids(browser), script=_long_script(), sceneHeadings=SCENE_HEADINGS
    )
    lead_name = browser.users()["lead"]["display"]
    assert f"{lead_name} spotlights" in result["promptText"]
    assert "scene 3" in result["promptText"]
    # Accepted: the editor's view starts at the third scene.
    assert result["editorTop"]["text"] == SCENE_HEADINGS[2]
    assert result["editorTop"]["inView"] is True
    assert "scene 3" in result["leadSeesEditorAt"]
    # Declined: the viewer's view did not move.
    assert result["viewerTopAfter"]["scrollTop"] == result["viewerTopBefore"]["scrollTop"]
    assert result["viewerScrollAfter"] == result["viewerScrollBefore"]
    assert result["viewerFollow"] == "idle"
    # The next spotlight moves the follower unasked, and asks the decliner again.
    assert result["editorPromptOnSecond"] is True
    assert "panel 2" in result["editorFollowText"]
    assert result["viewerScrollSecond"] == result["viewerScrollBefore"]
    # Scrolling away ended the follow: the spotlight after that asks first.
    assert "stopped following" in result["endedText"]
    assert result["editorFollowAfterLeaving"] == "prompted"
    assert result["errors"] == []


def test_invisible_mode_hides_the_user_from_presence_and_awareness_and_back(
    browser: BrowserRun,
) -> None:
    ids = _ids(browser)
    lead = str(ids["lead"])
    result = browser("invisible", ids=ids)
    assert result["toggleInitial"] is False
    assert lead in result["awarenessBefore"]
    assert lead not in result["presenceWhileInvisible"]
    assert "invisible to others" in result["leadSeesSelf"]
    assert lead not in result["awarenessWhileInvisible"]
    assert result["toggleAfterReload"] is True
    assert result["sawLeadAfterReload"] == 0, "the reloaded page showed the invisible user"
    assert lead not in result["presenceAfterReload"]
    assert lead in result["presenceAfterVisible"]
    assert result["toggleFinal"] is False
    assert not Preference.objects.get(user_id=ids["lead"]).invisible
    assert result["errors"] == []


def test_snapshot_button_creates_a_record_whose_page_opens(browser: BrowserRun) -> None:
    title = "Draft <i>one</i>"
    result = browser("snapshot", snapshotTitle=title)
    record = Record.objects.get(project=browser.room.project, snapshot__isnull=False)
    assert record.title == title
    assert result["dialogOpen"] is True
    assert result["link"]["href"] == f"/records/{record.rid}"
    assert title in result["link"]["text"]
    assert result["errorHiddenAfterFirst"] is True
    assert "not changed" in result["secondError"]
    assert result["recordPath"] == f"/records/{record.rid}"
    assert result["recordTitle"] == title
    assert result["errors"] == []


def test_an_image_attached_in_one_browser_shows_in_the_others_card(browser: BrowserRun) -> None:
    result = browser("panelimage")
    assert "not a PNG, JPEG, GIF or WebP" in result["typeError"]
    assert result["uploadsAfterTypeError"] == 0
    assert "declared image/png but the content is image/gif" in result["serverError"]
    record = Record.objects.get(project=browser.room.project, kind=RecordKind.IMAGE)
    seen = result["editorImage"]
    assert seen["rid"] == result["leadImage"] == record.rid
    assert seen["src"] == f"/api/records/{record.rid}/content"
    assert (seen["w"], seen["h"]) == (6, 4)
    assert seen["alt"] == "Image of panel 1"
    assert result["leadErrorHidden"] is True
    board = stored_content(
        browser, "board", lambda r: r.json()["panels"][0].get("image") == record.rid
    ).json()
    assert board["panels"][0]["image"] == record.rid
    assert result["errors"] == []
