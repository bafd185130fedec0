"""Storyboard credit (schema v2) through snapshots: the credit JSON, what a snapshot cites
(panel images, call responses marked used for its document) and the prefill's points."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.workspace.test_records import Api
from tests.workspace.test_snapshots import Writer
from workspace.documents.services import document_create
from workspace.models import (
    CallResponse,
    DocumentKind,
    Interest,
    ProposalLine,
    Record,
    RecordKind,
    ResponseStatus,
    Role,
)
from workspace.productions.services import call_create, response_create
from workspace.projects.services import membership_set, project_create, token_issue
from workspace.proposals.rules import (
    BOARD_POINTS_PER_FIELD,
    BOARD_POINTS_PER_IMAGE,
    BOARD_POINTS_PER_PANEL,
    BOARD_POINTS_PER_TEXT_UNIT,
)
from workspace.proposals.services import proposal_create, proposal_prefill
from workspace.records.rules import AuthorSpec, blob_content, text_content
from workspace.records.services import blob_store, record_create, snapshot_create

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Uploaded images go to a temporary directory, not the worktree's media/."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def fixed(text: str, n: int) -> str:
    """``text`` cut or padded with dots to exactly ``n`` characters."""
    return (text + "." * n)[:n]


# 60 + 60 characters of notes by alice, 70 + 50 of dialogue by bob (all ASCII: one UTF-16
# unit each).
NOTES = (
    fixed("Slow push in on the diner sign; neon hums, rain on the glass.", 60),
    fixed("Cut to black, then the kettle whistles offscreen, very loud.", 60),
)
DIALOGUE = (
    fixed("MARA: You kept the light on. JO: Somebody had to, the storm's coming.", 70),
    fixed("JO: Sit. Tea first, questions after. MARA: Fine.", 50),
)


def line_name(line: ProposalLine) -> str:
    assert line.contributor is not None, "prefill makes no held lines"
    return str(line.contributor.username)


@dataclass
class Demo:
    """Two writers and an illustrator on one board (and a script), alice leading."""

    project: Any
    users: dict[str, Any]
    apis: dict[str, Api]
    board: Any
    script: Any
    image: Record
    writers: dict[str, Writer]

    def name(self, who: str) -> str:
        return str(self.users[who].username)

    def snapshot(self, document: str = "board") -> dict[str, Any]:
        made = self.apis["alice"].post(
            f"/api/projects/{self.project.slug}/documents/{document}/snapshots", {}
        )
        assert made.status_code == 201, made.content
        out: dict[str, Any] = made.json()
        return out


def demo(board_title: str = "Board") -> Demo:
    """alice creates panels p1 and p2 and writes 120 characters of notes; bob writes 120
    characters of dialogue; carol uploads an image record, which alice sets as p1's image."""
    model = get_user_model()
    users = {
        n: model.objects.create_user(username=f"{n}-{uuid.uuid4().hex[:6]}")
        for n in ("alice", "bob", "carol")
    }
    project = project_create(
        slug=f"p-{uuid.uuid4().hex[:8]}", title="Night Shift", created_by=users["alice"]
    )
    membership_set(project=project, user=users["bob"], role=Role.EDITOR)
    membership_set(project=project, user=users["carol"], role=Role.EDITOR)
    board = document_create(
        project=project, slug="board", title=board_title, kind=DocumentKind.STORYBOARD
    )
    script = document_create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    png = blob_store(data=PNG, declared_type="image/png", user=users["carol"])
    image = record_create(
        user=users["carol"],
        kind=RecordKind.IMAGE,
        title="Diner at night",
        content=blob_content(png),
        blob=png,
        project=project,
        authors=[AuthorSpec(users["carol"], ("illustrator",))],
    )
    alice = Writer(users["alice"], board, 1001)
    bob = Writer(users["bob"], board, 1002)
    alice.add_panels({"id": "p1"}, {"id": "p2"})
    alice.panel_text("p1", "notes", 0, NOTES[0])
    alice.panel_text("p2", "notes", 0, NOTES[1])
    bob.panel_text("p1", "dialogue", 0, DIALOGUE[0])
    bob.panel_text("p2", "dialogue", 0, DIALOGUE[1])
    alice.edit(lambda: alice.board["p1"].__setitem__("image", image.rid))
    apis = {n: Api(token_issue(user=u)) for n, u in users.items()}
    return Demo(project, users, apis, board, script, image, {"alice": alice, "bob": bob})


def test_credit_json_of_a_storyboard() -> None:
    d = demo()
    snap = d.snapshot()
    credit = snap["snapshot"]["credit"]
    alice, bob, carol = d.name("alice"), d.name("bob"), d.name("carol")
    assert credit["kind"] == "storyboard" and credit["unit"] == "utf16"
    assert credit["length"] == 240
    assert credit["panels"] == [
        {
            "panel": "p1",
            "created_by": alice,
            "text": {"action": {}, "dialogue": {bob: 70}, "notes": {alice: 60}},
            "fields": {"duration_ms": alice, "image": alice, "shot_size": alice},
            "image": d.image.rid,
            "image_authors": [carol],
        },
        {
            "panel": "p2",
            "created_by": alice,
            "text": {"action": {}, "dialogue": {bob: 50}, "notes": {alice: 60}},
            "fields": {"duration_ms": alice, "shot_size": alice},
            "image": None,
            "image_authors": [],
        },
    ]
    nothing = {"own": 0, "others": 0}
    assert credit["users"] == {
        alice: {
            "user_id": d.users["alice"].pk,
            "surviving": 120,
            "typed": 120,
            "deleted": nothing,
            "panels_created": 2,
            "fields_set": 5,
            "panels_deleted": 0,
            "images": 0,
        },
        bob: {
            "user_id": d.users["bob"].pk,
            "surviving": 120,
            "typed": 120,
            "deleted": nothing,
            "panels_created": 0,
            "fields_set": 0,
            "panels_deleted": 0,
            "images": 0,
        },
        carol: {
            "user_id": d.users["carol"].pk,
            "surviving": 0,
            "typed": 0,
            "deleted": nothing,
            "panels_created": 0,
            "fields_set": 0,
            "panels_deleted": 0,
            "images": 1,
        },
    }
    # Each author with the roles of what they did, most work first.
    authors = [(a["username"], a["roles"]) for a in snap["canonical"]["authors"]]
    assert authors == [(alice, ["editor", "writer"]), (bob, ["writer"]), (carol, ["illustrator"])]
    # An image id with no record here has no authors (and is cited by nobody).
    unknown = "trp:rec:1:" + "0" * 64
    bob_writer = d.writers["bob"]
    bob_writer.edit(lambda: bob_writer.board["p2"].__setitem__("image", unknown))
    again = d.snapshot()
    p2 = again["snapshot"]["credit"]["panels"][1]
    assert (p2["image"], p2["image_authors"], p2["fields"]["image"]) == (unknown, [], bob)
    assert again["resources"] == [d.image.rid]


def test_snapshot_cites_panel_images_and_responses_used_for_the_document() -> None:
    d = demo()
    lead = d.apis["alice"]
    call = call_create(
        project=d.project,
        title="Voice Mara",
        interest=Interest.NARRATION,
        created_by=d.users["alice"],
    )
    takes = [
        record_create(
            user=d.users["bob"],
            kind=RecordKind.TEXT,
            title=f"Take {n}",
            content=text_content(f"take {n}"),
            text=f"take {n}",
            project=d.project,
        )
        for n in (1, 2, 3)
    ]
    responses = [response_create(call=call, record=r, user=d.users["bob"]) for r in takes]
    base = f"/api/projects/{d.project.slug}/calls/{call.pk}/responses"
    for response, document in zip(responses, ("board", "board", "script"), strict=True):
        moved = lead.send(
            "PATCH", f"{base}/{response.pk}", {"status": "used", "document": document}
        )
        assert moved.status_code == 200, moved.content
        assert moved.json()["used_for"] == f"{d.project.slug}/{document}"
        assert moved.json()["used_in"] is None, "no snapshot cites it yet"
    # Take 2 is replaced before the snapshot: not used, not cited.
    lead.send("PATCH", f"{base}/{responses[1].pk}", {"status": "replaced"})

    first = d.snapshot()
    assert sorted(first["resources"]) == sorted([d.image.rid, takes[0].rid])
    assert sorted(first["canonical"]["resources"]) == sorted([d.image.rid, takes[0].rid])
    stored = {r.pk: r for r in CallResponse.objects.select_related("used_in__record")}
    used_in = stored[responses[0].pk].used_in
    assert used_in is not None and used_in.record.rid == first["id"]
    assert stored[responses[1].pk].used_in is None and stored[responses[2].pk].used_in is None
    listed = {r["id"]: r for r in lead.get(base).json()}
    assert listed[responses[0].pk]["used_in"] == first["id"]

    # The next snapshot cites the image again (still on the board), not the take.
    bob = d.writers["bob"]
    bob.panel_text("p2", "action", 0, "Rain.")
    second = d.snapshot()
    assert second["resources"] == [d.image.rid]
    still = CallResponse.objects.get(pk=responses[0].pk).used_in
    assert still is not None and still.record.rid == first["id"], "cited once, by the first"

    # A narration used in the script counts the same way, even with the script unchanged.
    Writer(d.users["bob"], d.script, 2002).insert(0, "INT. DINER - NIGHT\n")
    script_first = d.snapshot("script")
    assert script_first["resources"] == [takes[2].rid]
    assert (
        d.apis["alice"]
        .post(f"/api/projects/{d.project.slug}/documents/script/snapshots", {})
        .status_code
        == 409
    ), "unchanged and nothing new to cite"
    # Take 2 becomes used after all, named by the older spelling: a snapshot of the script.
    moved = lead.send(
        "PATCH", f"{base}/{responses[1].pk}", {"status": "used", "used_in": script_first["id"]}
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["used_for"] == f"{d.project.slug}/script"
    script_second = d.snapshot("script")
    assert script_second["resources"] == [takes[1].rid]
    assert (
        script_second["canonical"]["content"]["sha256"]
        == script_first["canonical"]["content"]["sha256"]
    )


def test_marking_used_names_a_document_of_the_project() -> None:
    d = demo()
    lead = d.apis["alice"]
    call = call_create(
        project=d.project, title="Draw", interest=Interest.ILLUSTRATION, created_by=d.users["alice"]
    )
    response = response_create(call=call, record=d.image, user=d.users["carol"])
    path = f"/api/projects/{d.project.slug}/calls/{call.pk}/responses/{response.pk}"
    missing = lead.send("PATCH", path, {"status": "used"})
    assert missing.status_code == 400 and "document" in missing.json()["error"]
    unknown = lead.send("PATCH", path, {"status": "used", "document": "nope"})
    assert unknown.status_code == 400
    assert (
        d.apis["carol"].send("PATCH", path, {"status": "used", "document": "board"}).status_code
        == 403
    )
    board_snapshot = d.snapshot()
    clash = lead.send(
        "PATCH", path, {"status": "used", "document": "script", "used_in": board_snapshot["id"]}
    )
    assert clash.status_code == 400, "used_in names a snapshot of another document"
    # Another project's document is not this project's.
    other = project_create(slug=f"o-{uuid.uuid4().hex[:8]}", title="O", created_by=d.users["alice"])
    document_create(project=other, slug="board", title="B", kind=DocumentKind.STORYBOARD)
    elsewhere = lead.send("PATCH", path, {"status": "used", "document": "board"})
    assert elsewhere.status_code == 200
    assert elsewhere.json()["used_for"] == f"{d.project.slug}/board"
    assert elsewhere.json()["status"] == "used"
    assert CallResponse.objects.get(pk=response.pk).status == ResponseStatus.USED
    # Used for the board, then for the script: the script's next snapshot cites it.
    d.writers["bob"].panel_text("p1", "action", 0, "Wide.")
    cited_by_board = d.snapshot()
    assert d.image.rid in cited_by_board["resources"]
    assert lead.get(path.rsplit("/", 1)[0]).json()[0]["used_in"] == cited_by_board["id"]
    moved = lead.send("PATCH", path, {"status": "used", "document": "script"})
    assert moved.json()["used_in"] is None and moved.json()["used_for"].endswith("/script")
    Writer(d.users["bob"], d.script, 3003).insert(0, "EXT. ROAD - DAY\n")
    assert d.snapshot("script")["resources"] == [d.image.rid]


def test_prefill_weighs_text_panels_and_images_in_points() -> None:
    """The demo of issue #24, in figures.

    Board snapshot (one of the two records the prefill reads):
      alice: 120 characters of notes (120 pts) + 2 panels created (40 pts) = 160 pts;
             setting p1's image and the new panels' default shot size/duration: 0 pts
      bob:   120 characters of dialogue (120 pts)                          = 120 pts
      carol: 1 image, her record on p1 (200 pts)                            = 200 pts
      total 480 pts: alice 1/3, bob 1/4, carol 5/12.
    Production (a record by all three, citing the board snapshot): 1/3 each.
    Each record counts equally: alice (1/3 + 1/3) / 2 = 1/3, bob (1/3 + 1/4) / 2 = 7/24,
    carol (1/3 + 5/12) / 2 = 3/8.
    Shares (largest remainder to 10,000 bp): alice 3,333 bp (33.33 %), bob 2,917 bp
    (29.17 %), carol 3,750 bp (37.50 %).
    """
    assert (BOARD_POINTS_PER_TEXT_UNIT, BOARD_POINTS_PER_PANEL) == (1, 20)
    assert (BOARD_POINTS_PER_FIELD, BOARD_POINTS_PER_IMAGE) == (5, 200)
    d = demo(board_title="Board <i>one</i>")
    board = snapshot_create(document=d.board, user=d.users["alice"])
    production = record_create(
        user=d.users["alice"],
        kind=RecordKind.TEXT,
        title="Night Shift animatic",
        content=text_content("animatic"),
        text="animatic",
        project=d.project,
        resources=[board],
        authors=[AuthorSpec(d.users[n], ("author",)) for n in ("alice", "bob", "carol")],
    )
    proposal = proposal_create(
        project=d.project,
        user=d.users["alice"],
        production=production,
        title="Night Shift",
        currency="EUR",
        revenue=Decimal("1000.00"),
        costs=Decimal("0.00"),
    )
    lines = {line_name(ln): ln for ln in proposal_prefill(proposal=proposal, user=d.users["alice"])}
    alice, bob, carol = d.name("alice"), d.name("bob"), d.name("carol")
    shares = {name: ln.share_bp for name, ln in lines.items()}
    assert shares == {alice: 3_333, bob: 2_917, carol: 3_750}, shares
    title = board.title
    assert title == "Board <i>one</i>, snapshot 1"
    assert lines[alice].reasoning == (
        "prefilled from credit: author of “Night Shift animatic” (1 of 3)\n"
        f"“{title}”: 120 characters (120 pts) + 2 panels created (40 pts) = 160 of 480 pts\n"
        "each record counts equally (1 of 2): (1/3 + 1/3) ÷ 2 = 1/3 → 33.33 % (3333 bp)"
    )
    assert lines[bob].reasoning == (
        "prefilled from credit: author of “Night Shift animatic” (1 of 3)\n"
        f"“{title}”: 120 characters (120 pts) = 120 of 480 pts\n"
        "each record counts equally (1 of 2): (1/3 + 1/4) ÷ 2 = 7/24 → 29.17 % (2917 bp)"
    )
    assert lines[carol].reasoning == (
        "prefilled from credit: author of “Night Shift animatic” (1 of 3)\n"
        f"“{title}”: 1 image (200 pts) = 200 of 480 pts\n"
        "each record counts equally (1 of 2): (1/3 + 5/12) ÷ 2 = 3/8 → 37.50 % (3750 bp)"
    )
    assert [ln.position for ln in (lines[carol], lines[alice], lines[bob])] == [0, 1, 2]
    # The proposal page shows each line's reasoning, escaped, one record per line.
    page = Client()
    page.force_login(d.users["alice"])
    body = page.get(f"/p/{d.project.slug}/proposals/{proposal.pk}").content.decode()
    assert (
        "“Board &lt;i&gt;one&lt;/i&gt;, snapshot 1”: 1 image (200 pts) = 200 of 480 pts<br>" in body
    )
    assert "<i>one</i>" not in body


def test_prefill_points_for_shot_sizes_durations_and_shared_images() -> None:
    """Non-default shot sizes and durations: 5 pts to their setter; an image record with
    two authors: 100 pts each. bob sets p2's shot size (CU) and alice p1's duration (3500 ms);
    bob resets p1's shot size to its default "" (nothing); dave co-authors the image."""
    d = demo()
    dave = get_user_model().objects.create_user(username=f"dave-{uuid.uuid4().hex[:6]}")
    png = blob_store(data=PNG + b"\x01", declared_type="image/png", user=d.users["carol"])
    shared = record_create(
        user=d.users["carol"],
        kind=RecordKind.IMAGE,
        title="Kettle",
        content=blob_content(png),
        blob=png,
        project=d.project,
        authors=[
            AuthorSpec(d.users["carol"], ("illustrator",)),
            AuthorSpec(dave, ("illustrator",)),
        ],
    )
    alice, bob = d.writers["alice"], d.writers["bob"]
    bob.edit(lambda: bob.board["p2"].__setitem__("shot_size", "CU"))
    bob.edit(lambda: bob.board["p1"].__setitem__("shot_size", ""))
    alice.edit(lambda: alice.board["p1"].__setitem__("duration_ms", 3500))
    alice.edit(lambda: alice.board["p2"].__setitem__("image", shared.rid))
    board = snapshot_create(document=d.board, user=d.users["alice"])
    proposal = proposal_create(
        project=d.project,
        user=d.users["alice"],
        production=board,
        title="Night Shift",
        currency="EUR",
        revenue=Decimal("1000.00"),
        costs=Decimal("0.00"),
    )
    lines = {line_name(ln): ln for ln in proposal_prefill(proposal=proposal, user=d.users["alice"])}
    names = {n: d.name(n) for n in ("alice", "bob", "carol")} | {"dave": dave.username}
    # alice 120 + 40 + 5 = 165, bob 120 + 5 = 125, carol 200 + 100 = 300, dave 100: 690 pts
    assert lines[names["alice"]].reasoning.splitlines()[0] == (
        f"prefilled from credit: “{board.title}”: 120 characters (120 pts) + 2 panels created "
        "(40 pts) + 1 shot size or duration set (5 pts) = 165 of 690 pts"
    )
    assert (
        lines[names["bob"]]
        .reasoning.splitlines()[0]
        .endswith(
            ": 120 characters (120 pts) + 1 shot size or duration set (5 pts) = 125 of 690 pts"
        )
    )
    assert (
        lines[names["carol"]]
        .reasoning.splitlines()[0]
        .endswith(": 1 image (200 pts) + 1 image shared by 2 (100 pts) = 300 of 690 pts")
    )
    assert (
        lines[names["dave"]]
        .reasoning.splitlines()[0]
        .endswith(": 1 image shared by 2 (100 pts) = 100 of 690 pts")
    )
    # 165/690 = 2391.3, 125/690 = 1811.6, 300/690 = 4347.8, 100/690 = 1449.3 bp
    shares = {n: lines[u].share_bp for n, u in names.items()}
    assert shares == {"alice": 2_391, "bob": 1_812, "carol": 4_348, "dave": 1_449}, shares


def test_migration_0006_names_the_document_of_responses_used_before() -> None:
    """Responses marked used under the old rule named a snapshot: used for its document."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("workspace.migrations.0006_callresponse_used_for")
    d = demo()
    snap = snapshot_create(document=d.board, user=d.users["alice"])
    call = call_create(
        project=d.project, title="Draw", interest=Interest.ILLUSTRATION, created_by=d.users["alice"]
    )
    old = response_create(call=call, record=d.image, user=d.users["carol"])
    CallResponse.objects.filter(pk=old.pk).update(status=ResponseStatus.USED, used_in=snap.snapshot)
    migration.used_for_from_used_in(apps, None)
    found = CallResponse.objects.get(pk=old.pk)
    assert (found.used_for_id, found.used_in_id) == (d.board.pk, snap.snapshot.pk)
