"""The record page in Chromium: rendered, family tree drawn and followed, payloads inert."""

from django.contrib.auth.models import User

from tests.browser.conftest import ARTIFACTS, BrowserRun
from tests.workspace.test_snapshots import Writer
from workspace.models import RecordKind
from workspace.records.rules import text_content
from workspace.records.services import record_create, snapshot_create

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
SCRIPT = (
    "Title: Night Shift\n\n"
    "INT. DINER - NIGHT\n\n"
    f"Mara wipes the counter. {PAYLOAD}\n\n"
    "MARA\n"
    "Coffee?\n\n"
    "EXT. PARKING LOT - LATER\n\n"
    "Rain on the neon sign.\n"
)


def test_record_page_renders_in_chromium_with_payloads_inert(browser: BrowserRun) -> None:
    room = browser.room
    lead = room.members["lead"].user
    assert isinstance(lead, User)
    poem_text = "Night falls on the diner.\n"
    poem = record_create(
        user=lead,
        kind=RecordKind.TEXT,
        title="Poem for the diner",
        content=text_content(poem_text),
        text=poem_text,
        project=room.project,
    )
    Writer(lead, room.script, 777).insert(0, SCRIPT)
    snap = snapshot_create(
        document=room.script, user=lead, title=f"Night Shift {PAYLOAD}", resources=[poem]
    )
    remix_text = "A remix.\n"
    remix = record_create(
        user=lead,
        kind=RecordKind.TEXT,
        title="Diner remix",
        content=text_content(remix_text),
        text=remix_text,
        project=room.project,
        resources=[snap],
    )
    (ARTIFACTS / "record-page.png").unlink(missing_ok=True)
    result = browser("recordpage", rid=snap.rid)
    assert result["title"] == f"Night Shift {PAYLOAD}"
    assert PAYLOAD in result["documentTitle"]
    assert result["xss"] == "undefined"
    assert result["xssAfter"] == "undefined"
    assert result["injected"] == 0
    assert "dialog" not in result
    levels = {n["rid"]: n["level"] for n in result["treeNodes"]}
    assert levels == {poem.rid: -1, snap.rid: 0, remix.rid: 1}
    assert all(n["box"] for n in result["treeNodes"])
    assert sorted(result["treeLinks"]) == sorted([f"/records/{poem.rid}", f"/records/{remix.rid}"])
    assert len(result["citeLinks"]) == 4
    assert result["scenes"] == 2
    assert result["overflow"] <= 0
    assert result["followed"] == f"/records/{poem.rid}"
    assert result["errors"] == []
    assert (ARTIFACTS / "record-page.png").stat().st_size > 10_000
