"""Every API endpoint against every kind of caller: anonymous, outsider, viewer, editor, lead."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pycrdt import Doc, Text

from tests.workspace.test_records import PNG, Api
from workspace.documents.services import document_update_post
from workspace.models import Call, DocumentKind, Role, Visibility
from workspace.productions.services import project_create_from_template
from workspace.projects.services import membership_set, token_issue
from workspace.records.services import snapshot_create

pytestmark = [pytest.mark.django_db]

CALLERS = ["anonymous", "outsider", "viewer", "editor", "lead"]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def setup(visibility: Visibility) -> dict[str, Any]:
    model = get_user_model()
    users = {
        name: model.objects.create_user(username=f"{name}-{uuid.uuid4().hex[:6]}", password="x")
        for name in ["lead", "editor", "viewer", "outsider"]
    }
    project = project_create_from_template(
        slug=f"p-{uuid.uuid4().hex[:8]}",
        title="P",
        created_by=users["lead"],
        template="life-narrated",
        visibility=visibility,
    )
    membership_set(project=project, user=users["editor"], role=Role.EDITOR)
    membership_set(project=project, user=users["viewer"], role=Role.VIEWER)
    script = project.documents.get(kind=DocumentKind.SCRIPT)
    doc: Doc[Any] = Doc(client_id=5)
    doc.get("content", type=Text).insert(0, "INT. ROOM - DAY\n")
    document_update_post(document=script, update=bytes(doc.get_update()), user=users["lead"])
    snap = snapshot_create(document=script, user=users["lead"])
    apis = {name: Api(token_issue(user=user)) for name, user in users.items()}
    apis["anonymous"] = Api(None)
    return {"project": project, "script": script, "snap": snap, "apis": apis, "users": users}


def touch(ctx: dict[str, Any]) -> bool:
    """Change the script (as the lead) so that a new snapshot differs from the last."""
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "x")
    document_update_post(
        document=ctx["script"], update=bytes(doc.get_update()), user=ctx["users"]["lead"]
    )
    return False


def expect(ctx: dict[str, Any], call: Any, wanted: dict[str, set[int] | int]) -> None:
    got = {}
    for caller in CALLERS:
        response = call(ctx["apis"][caller], caller)
        got[caller] = response.status_code
    expected = {k: v if isinstance(v, set) else {v} for k, v in wanted.items()}
    assert all(got[k] in expected[k] for k in CALLERS), (got, wanted)


def matrix(
    anonymous: Any, outsider: Any, viewer: Any, editor: Any, lead: Any
) -> dict[str, set[int] | int]:
    return {
        "anonymous": anonymous,
        "outsider": outsider,
        "viewer": viewer,
        "editor": editor,
        "lead": lead,
    }


def test_private_project_endpoints() -> None:
    ctx = setup(Visibility.PRIVATE)
    slug = ctx["project"].slug
    base = f"/api/projects/{slug}"
    doc = f"{base}/documents/script"
    rid = ctx["snap"].rid
    call_id = Call.objects.filter(project=ctx["project"]).first().pk  # type: ignore[union-attr]
    reads = matrix(404, 404, 200, 200, 200)
    doc_reads = matrix(401, 404, 200, 200, 200)
    lead_only = matrix(401, 404, 403, 403, 200)
    writers = matrix(401, 404, 403, 200, 200)

    expect(ctx, lambda a, _: a.get(base), reads)
    expect(ctx, lambda a, _: a.get(f"{base}/calls"), reads)
    expect(ctx, lambda a, _: a.send("PATCH", base, {"logline": "A life, narrated."}), lead_only)
    expect(ctx, lambda a, _: a.send("PUT", f"{base}/follow"), matrix(401, 404, 200, 200, 200))
    expect(ctx, lambda a, _: a.send("DELETE", f"{base}/follow"), matrix(401, 404, 200, 200, 200))
    expect(
        ctx,
        lambda a, _: a.post(f"{base}/calls", {"title": "Music", "interest": "music"}),
        matrix(401, 404, 403, 403, 201),
    )
    expect(ctx, lambda a, _: a.send("PATCH", f"{base}/calls/{call_id}", {"open": False}), lead_only)
    expect(
        ctx,
        lambda a, _: a.post(f"{base}/status", {"status": "in_production"}),
        lead_only,
    )
    member = ctx["users"]["viewer"].username
    expect(
        ctx,
        lambda a, _: a.send("PUT", f"{base}/members/{member}", {"role": "viewer"}),
        lead_only,
    )
    expect(ctx, lambda a, _: a.get(f"{doc}/snapshots"), doc_reads)
    expect(
        ctx,
        lambda a, caller: touch(ctx) or a.post(f"{doc}/snapshots", {"title": f"by {caller}"}),
        matrix(401, 404, 403, 201, 201),
    )
    expect(ctx, lambda a, _: a.post(f"{doc}/restore", {"record": rid}), writers)
    for suffix in ["", "/content", "/tree", "/cite"]:
        expect(ctx, lambda a, _, s=suffix: a.get(f"/api/records/{rid}{s}"), reads)
    second = ctx["script"].snapshots.order_by("-pk").first().record.rid
    expect(ctx, lambda a, _: a.get(f"/api/records/{second}/diff", against=rid), reads)
    expect(ctx, lambda a, _: a.get(f"/api/works/{ctx['snap'].work.wid}"), reads)
    expect(
        ctx,
        lambda a, caller: a.post(
            "/api/records",
            {"kind": "text", "title": f"t {caller}", "text": caller, "project": slug},
        ),
        matrix(401, 404, 403, 201, 201),
    )
    expect(ctx, lambda a, _: a.upload(PNG, "image/png"), matrix(401, 201, 201, 201, 201))
    expect(
        ctx,
        lambda a, caller: a.post(
            "/api/projects", {"slug": f"new-{caller}-{uuid.uuid4().hex[:6]}", "title": "N"}
        ),
        matrix(401, 201, 201, 201, 201),
    )
    listed = ctx["apis"]["outsider"].get("/api/records", project=slug)
    assert listed.status_code == 404


def test_public_project_endpoints() -> None:
    ctx = setup(Visibility.PUBLIC)
    slug = ctx["project"].slug
    base = f"/api/projects/{slug}"
    doc = f"{base}/documents/script"
    rid = ctx["snap"].rid
    everyone = matrix(200, 200, 200, 200, 200)
    expect(ctx, lambda a, _: a.get(base), everyone)
    expect(ctx, lambda a, _: a.get(f"/api/records/{rid}"), everyone)
    expect(ctx, lambda a, _: a.get(f"/api/records/{rid}/cite", format="cff"), everyone)
    expect(ctx, lambda a, _: a.get(f"{doc}/snapshots"), matrix(401, 200, 200, 200, 200))
    expect(
        ctx, lambda a, _: a.send("PATCH", base, {"logline": "x"}), matrix(401, 403, 403, 403, 200)
    )
    expect(ctx, lambda a, _: a.send("PUT", f"{base}/follow"), matrix(401, 200, 200, 200, 200))
    expect(
        ctx, lambda a, _: a.post(f"{doc}/restore", {"record": rid}), matrix(401, 403, 403, 200, 200)
    )
    expect(
        ctx,
        lambda a, caller: a.post(
            "/api/records",
            {"kind": "text", "title": f"t {caller}", "text": caller, "project": slug},
        ),
        matrix(401, 201, 201, 201, 201),
    )


def test_session_cookie_writes_need_the_csrf_token() -> None:
    ctx = setup(Visibility.PRIVATE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(ctx["users"]["lead"])
    path = f"/api/projects/{ctx['project'].slug}"
    refused = client.patch(path, '{"logline": "x"}', content_type="application/json")
    assert refused.status_code == 403
    client.get("/accounts/login/")  # a page sets the CSRF cookie, as in a browser
    token = client.cookies["csrftoken"].value
    allowed = client.patch(
        path, '{"logline": "x"}', content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert allowed.status_code == 200, allowed.content
