"""XSS sweep: script payloads in every kind of text users write, every page that shows it
opened in Chromium by a lead and a viewer; nothing runs and nothing is injected."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from crdt.storyboard import panels_write
from tests.browser.conftest import BrowserRun
from tests.browser.test_room import XSS_PAYLOADS
from tests.support.factories import ProjectRoom
from tests.workspace.test_snapshots import Writer
from workspace.models import Interest, Notification, RecordKind
from workspace.notifications.services import interests_set
from workspace.productions.services import call_create, response_create
from workspace.proposals.rules import LineSpec
from workspace.proposals.services import (
    proposal_accept,
    proposal_comment,
    proposal_create,
    proposal_line_add,
    proposal_publish,
)
from workspace.records.rules import text_content
from workspace.records.services import record_create, snapshot_create

pytestmark = [pytest.mark.live, pytest.mark.slow]

PAYLOAD = " ".join(XSS_PAYLOADS)


def _user(room: ProjectRoom, name: str) -> User:
    user = room.members[name].user
    assert isinstance(user, User)
    return user


def seed(room: ProjectRoom) -> dict[str, str]:
    """Put the payloads in everything people write; returns the paths that show them."""
    lead, editor, viewer = (_user(room, n) for n in ("lead", "editor", "viewer"))
    for user in (lead, editor, viewer):
        user.first_name, user.last_name = XSS_PAYLOADS
        user.save(update_fields=["first_name", "last_name"])
    project = room.project
    project.title, project.logline, project.description = PAYLOAD, PAYLOAD, PAYLOAD
    project.save(update_fields=["title", "logline", "description"])
    for document in (room.script, room.storyboard):
        document.title = PAYLOAD
        document.save(update_fields=["title"])
    p0, p1 = XSS_PAYLOADS
    # Every Fountain element that is rendered with markup of its own (emphasis, notes,
    # centred text, lyrics, sections, synopses, transitions, a title page).
    Writer(lead, room.script, 7001).insert(
        0,
        f"Title: {PAYLOAD}\nAuthor: {p0}\n\n# {p0}\n\n= {p1}\n\nINT. {p0} - DAY #{p0}#\n\n"
        f"{PAYLOAD} *{p0}* **{p1}** _{p0}_\n\nMARA ({p0})\n({p1})\n{PAYLOAD}\n\n"
        f"~{p0}\n\n> {p1} <\n\n> CUT TO {p0}:\n\n[[{p1}]] /* {p0} */\n",
    )
    board = Writer(editor, room.storyboard, 7002)
    board.edit(
        lambda: panels_write(
            board.doc, [{"id": "xss1", "action": PAYLOAD, "dialogue": PAYLOAD, "notes": PAYLOAD}]
        )
    )
    interests_set(user_id=viewer.pk, interests=["writing"])
    call = call_create(
        project=project,
        title=PAYLOAD,
        interest=Interest.WRITING,
        instructions=PAYLOAD,
        created_by=lead,
    )
    text = record_create(
        user=viewer,
        kind=RecordKind.TEXT,
        title=PAYLOAD,
        description=PAYLOAD,
        content=text_content(PAYLOAD),
        text=PAYLOAD,
        project=project,
    )
    response_create(call=call, record=text, user=viewer)
    script = snapshot_create(
        document=room.script, user=lead, title=PAYLOAD, description=PAYLOAD, resources=[text]
    )
    sheet = snapshot_create(document=room.storyboard, user=editor, title=PAYLOAD)
    proposal = proposal_create(
        project=project,
        user=lead,
        production=script,
        title=PAYLOAD,
        currency="EUR",
        revenue=Decimal("100"),
        costs=Decimal("0"),
    )
    for who, bp in ((viewer, 6_000), (None, 4_000)):
        spec = LineSpec(
            contributor=who,
            held_name="" if who else PAYLOAD,
            role=PAYLOAD[:100],
            share_bp=bp,
            reasoning=PAYLOAD,
        )
        proposal_line_add(proposal=proposal, user=lead, spec=spec)
    proposal_publish(proposal=proposal, user=lead)
    line = proposal.lines.get(contributor=viewer)
    question = proposal_comment(proposal=proposal, user=viewer, body=PAYLOAD, line=line)
    proposal_comment(proposal=proposal, user=lead, body=PAYLOAD, parent=question)
    proposal_accept(proposal=proposal, user=viewer)
    slug = project.slug
    return {
        "home": "/",
        "projects": "/projects/",
        "calls": "/calls/",
        "inbox": "/inbox/",
        "room": f"/p/{slug}/",
        "board": f"/p/{slug}/d/board",
        "script_record": f"/records/{script.rid}",
        "sheet_record": f"/records/{sheet.rid}",
        "text_record": f"/records/{text.rid}",
        "proposal": f"/p/{slug}/proposals/{proposal.pk}",
        "script_export": f"/api/projects/{slug}/documents/script/export?format=html",
        "board_export": f"/api/projects/{slug}/documents/board/export?format=html",
    }


def test_payloads_in_everything_users_write_never_run(browser: BrowserRun) -> None:
    paths = seed(browser.room)
    # Notifications quote titles and names: the payload is in their stored text too.
    quoting = Notification.objects.filter(reason__contains=XSS_PAYLOADS[0])
    assert {n.event for n in quoting} >= {"call.created", "response.created", "proposal.published"}
    p0 = XSS_PAYLOADS[0]
    expect: dict[str, list[tuple[str, str]]] = {
        "home": [("main", p0)],
        "projects": [("main", p0)],
        "calls": [("#calls li.call", PAYLOAD)],
        "inbox": [("main", p0)],
        "room": [
            ("#room h1", p0),
            ("#preview", p0),
            ("textarea.panel-action", PAYLOAD),
            ("#call-list > li.call", PAYLOAD),
        ],
        "board": [("#room h1", p0), ("textarea.panel-notes", PAYLOAD)],
        "script_record": [("#record-title", PAYLOAD), (".author-name", p0), (".preview", p0)],
        "sheet_record": [("#record-title", PAYLOAD), (".preview", p0)],
        "text_record": [("#record-title", PAYLOAD), (".description", PAYLOAD)],
        "proposal": [
            ("#proposal-title", PAYLOAD),
            (".line-name", PAYLOAD),
            (".role", PAYLOAD[:100]),
            (".reasoning", PAYLOAD),
            (".comment .body", PAYLOAD),
            (".comment .author", PAYLOAD),
            ("li.acceptance", PAYLOAD),
            ("#edit-log", PAYLOAD),
        ],
        "script_export": [("body", p0)],
        "board_export": [("body", PAYLOAD)],
    }
    pages = [
        {
            "path": path,
            "room": name in ("room", "board"),
            "waitFor": ["#call-list > li.call"] if name == "room" else [],
            "expect": expect[name],
        }
        for name, path in paths.items()
    ]
    # The room as the server renders it before any script runs: the script's text in the
    # editor's place (its state is embedded as base64, so no payload is in a script).
    pages.append(
        {
            "path": paths["room"],
            "noscript": True,
            "expect": [("#room h1", p0), ("#editor pre.prerendered", PAYLOAD), ("nav.doc-nav", p0)],
        }
    )
    result = browser("xsssweep", who=["lead", "viewer"], pages=pages, payloads=XSS_PAYLOADS)
    assert len(result["pages"]) == 2 * len(pages)
    for seen in result["pages"]:
        where = f"{seen['who']} on {seen['path']}"
        assert seen["xss"] == "undefined", f"a payload ran: {where}"
        assert (seen["images"], seen["handlers"], seen["scripts"]) == (0, 0, 0), where
        assert all(seen["shown"]), f"payload text not shown as text: {where}: {seen['shown']}"
    for who in ("lead", "viewer"):
        assert result[f"errors_{who}"] == []
        assert result[f"dialogs_{who}"] == []
