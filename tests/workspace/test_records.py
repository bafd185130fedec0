"""Records: intrinsic ids, immutability, versions, uploads, family tree and citations."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from bibtexparser.entrypoint import parse_string as parse_bibtex
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.test import Client

from workspace.models import Blob, Record, Role, Visibility
from workspace.projects.services import membership_set, project_create, token_issue
from workspace.records.rules import canonical_json

pytestmark = [pytest.mark.django_db]

DATA = Path(__file__).parent / "data"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40


class Api:
    """A Django test client speaking JSON with a bearer token (or anonymous)."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            path, json.dumps(body or {}), content_type="application/json", headers=self.headers
        )

    def send(self, method: str, path: str, body: Any = None) -> Any:
        return self.client.generic(
            method,
            path,
            json.dumps(body or {}),
            content_type="application/json",
            headers=self.headers,
        )

    def upload(self, data: bytes, content_type: str, name: str = "f.bin") -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile(name, data, content_type=content_type)
        return self.client.post("/api/blobs", {"file": upload}, headers=self.headers)


def make_user(name: str, full: str = "") -> tuple[Any, Api]:
    first, _, last = full.partition(" ")
    user = get_user_model().objects.create_user(
        username=f"{name}-{uuid.uuid4().hex[:6]}",
        password="pw-not-used-123",
        first_name=first,
        last_name=last,
    )
    return user, Api(token_issue(user=user))


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def text_record(api: Api, title: str = "A poem", **extra: Any) -> dict[str, Any]:
    response = api.post(
        "/api/records", {"kind": "text", "title": title, "text": "Roses.\n", **extra}
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_record_id_is_recomputable_from_the_export() -> None:
    _, api = make_user("ada", "Ada Lovelace")
    made = text_record(api, description="Über die Rosen 🌹")
    exported = api.get(f"/api/records/{made['id']}").json()
    canonical = exported["canonical"]
    raw = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert exported["id"] == "trp:rec:1:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()
    assert canonical_json(canonical) == raw
    content = api.get(f"/api/records/{made['id']}/content").content
    assert hashlib.sha256(content).hexdigest() == canonical["content"]["sha256"]
    assert canonical["content"]["size"] == len(content)
    assert canonical["licence"]["id"] == "troupe-nonexclusive"
    assert canonical["licence"]["version"] == "1.0"
    grant = exported["licence_text"].encode("utf-8")
    assert hashlib.sha256(grant).hexdigest() == canonical["licence"]["grant_sha256"]
    assert "non-exclusive" in exported["licence_text"]
    assert canonical["authors"][0]["roles"] == ["author"]
    assert canonical["authors"][0]["name"] == "Ada Lovelace"
    assert exported["work"].startswith("trp:work:1:")
    assert canonical["created"].endswith("Z")


def test_records_are_immutable_and_versions_form_a_work() -> None:
    _, api = make_user("ada")
    first = text_record(api)
    record = Record.objects.get(rid=first["id"])
    record.title = "changed"
    with pytest.raises(ValueError, match="immutable"):
        record.save()
    same = api.post(
        "/api/records",
        {"kind": "text", "title": "A poem", "text": "Roses.\n", "previous": first["id"]},
    )
    assert same.status_code == 409
    second = text_record(api, title="A poem", text="Roses are red.\n", previous=first["id"])
    assert second["work"] == first["work"]
    assert second["version"] == 2
    assert second["canonical"]["version"]["previous"] == first["id"]
    fork = api.post(
        "/api/records",
        {"kind": "text", "title": "Other", "text": "x", "previous": first["id"]},
    )
    assert fork.status_code == 409  # build on the latest version
    work = api.get(f"/api/works/{first['work']}").json()
    assert [v["id"] for v in work["versions"]] == [first["id"], second["id"]]
    _, mallory = make_user("mallory")
    not_author = mallory.post(
        "/api/records",
        {"kind": "text", "title": "Mine now", "text": "y", "previous": second["id"]},
    )
    assert not_author.status_code == 403


def test_family_tree_with_depth_and_counts() -> None:
    _, api = make_user("ada")
    root = text_record(api, title="Root")
    mid = text_record(api, title="Mid", resources=[root["id"]])
    leaf = text_record(api, title="Leaf", resources=[mid["id"], root["id"]])
    missing = api.post(
        "/api/records",
        {"kind": "text", "title": "x", "text": "x", "resources": ["trp:rec:1:" + "0" * 64]},
    )
    assert missing.status_code == 400
    tree = api.get(f"/api/records/{mid['id']}/tree", depth=1).json()
    assert [r["id"] for r in tree["resources"]] == [root["id"]]
    assert [r["id"] for r in tree["remixes"]] == [leaf["id"]]
    assert tree["counts"] == {"ancestors": 1, "descendants": 1, "hidden": 0}
    deep = api.get(f"/api/records/{root['id']}/tree", depth=2).json()
    assert deep["counts"]["descendants"] == 2
    assert {r["id"] for r in deep["remixes"]} == {mid["id"], leaf["id"]}
    mid_node = next(r for r in deep["remixes"] if r["id"] == mid["id"])
    assert [r["id"] for r in mid_node["remixes"]] == [leaf["id"]]
    assert api.get(f"/api/records/{root['id']}/tree", depth=11).status_code == 400
    leaf_export = api.get(f"/api/records/{leaf['id']}").json()
    assert sorted(leaf_export["resources"]) == sorted([mid["id"], root["id"]])


def test_private_records_hidden_from_outsiders_and_counted_in_trees() -> None:
    lead, lead_api = make_user("lead")
    _, outsider = make_user("out")
    project = project_create(slug=f"p-{uuid.uuid4().hex[:8]}", title="P", created_by=lead)
    public = text_record(lead_api, title="Public")
    private = text_record(lead_api, title="Private", project=project.slug, resources=[public["id"]])
    assert outsider.get(f"/api/records/{private['id']}").status_code == 404
    assert Api(None).get(f"/api/records/{public['id']}").status_code == 200
    tree = outsider.get(f"/api/records/{public['id']}/tree").json()
    assert tree["remixes"] == []
    assert tree["counts"]["hidden"] == 1
    assert private["id"] not in [r["id"] for r in outsider.get("/api/records").json()]
    exported = outsider.get(f"/api/records/{public['id']}").json()
    assert exported["remixes"] == [] and exported["hidden_links"] == 1
    assert lead_api.get(f"/api/records/{public['id']}").json()["remixes"] == [private["id"]]


def test_uploads_are_sniffed_size_limited_and_stored_by_hash(settings: Any) -> None:
    _, api = make_user("ada")
    ok = api.upload(PNG, "image/png")
    assert ok.status_code == 201, ok.content
    digest = hashlib.sha256(PNG).hexdigest()
    assert ok.json()["sha256"] == digest
    blob = Blob.objects.get(sha256=digest)
    with default_storage.open(blob.storage_name) as stored:
        assert stored.read() == PNG
    assert digest in blob.storage_name
    assert api.upload(PNG, "image/png").json()["sha256"] == digest  # stored once
    assert api.upload(PNG, "image/jpeg").status_code == 415  # declared != sniffed
    assert api.upload(b"just text", "image/png").status_code == 415
    assert api.upload(WAV, "audio/x-wav").status_code == 201
    settings.TROUPE = {**settings.TROUPE, "MAX_UPLOAD_BYTES": 16}
    assert api.upload(PNG, "image/png").status_code == 413
    assert Api(None).upload(PNG, "image/png").status_code == 401
    image = api.post("/api/records", {"kind": "image", "title": "Sketch", "file_sha256": digest})
    assert image.status_code == 201, image.content
    assert api.get(f"/api/records/{image.json()['id']}/content").content == PNG
    wrong_kind = api.post("/api/records", {"kind": "audio", "title": "x", "file_sha256": digest})
    assert wrong_kind.status_code == 400


def test_authors_with_roles_must_be_project_members() -> None:
    lead, lead_api = make_user("lead", "Lee Lead")
    narrator, _ = make_user("narr", "Nora Narrator")
    stranger, _ = make_user("stranger")
    project = project_create(
        slug=f"p-{uuid.uuid4().hex[:8]}", title="P", created_by=lead, visibility=Visibility.PUBLIC
    )
    membership_set(project=project, user=narrator, role=Role.EDITOR)
    made = text_record(
        lead_api,
        project=project.slug,
        authors=[
            {"username": lead.username, "roles": ["writer"]},
            {"username": narrator.username, "roles": ["narrator", "editor"]},
        ],
    )
    authors = made["canonical"]["authors"]
    assert [a["username"] for a in authors] == [lead.username, narrator.username]
    assert authors[1]["roles"] == ["editor", "narrator"]
    refused = lead_api.post(
        "/api/records",
        {
            "kind": "text",
            "title": "x",
            "text": "x",
            "project": project.slug,
            "authors": [{"username": stranger.username, "roles": ["writer"]}],
        },
    )
    assert refused.status_code == 400
    bad_role = lead_api.post(
        "/api/records",
        {
            "kind": "text",
            "title": "x",
            "text": "x",
            "authors": [{"username": lead.username, "roles": ["boss"]}],
        },
    )
    assert bad_role.status_code == 400


def cite(api: Api, rid: str, fmt: str) -> str:
    response = api.get(f"/api/records/{rid}/cite", format=fmt)
    assert response.status_code == 200, response.content
    return str(response.content.decode("utf-8"))


def test_citation_exports_parse_and_validate() -> None:
    _, api = make_user("ada", "Ada {Byron} Lovelace")
    made = text_record(api, title="Roses & 100% {braces} ~ tilde_", description="On roses.")
    rid = made["id"]
    bib = parse_bibtex(cite(api, rid, "bibtex"))
    assert not bib.failed_blocks
    (entry,) = bib.entries
    assert entry.entry_type == "misc"
    assert "Roses" in entry.fields_dict["title"].value
    assert "Lovelace" in entry.fields_dict["author"].value
    assert entry.fields_dict["url"].value.endswith(rid)
    assert rid in entry.fields_dict["note"].value

    cff = yaml.safe_load(cite(api, rid, "cff"))
    schema = json.loads((DATA / "cff-1.2.0.schema.json").read_text())
    jsonschema.validate(cff, schema)
    assert cff["identifiers"][0]["value"] == rid
    assert cff["authors"][0]["family-names"] == "Lovelace"
    assert cff["title"] == made["canonical"]["title"]

    csl = json.loads(cite(api, rid, "csl-json"))
    csl_schema = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "type", "title", "author", "issued"],
            "properties": {
                "id": {"type": "string"},
                "type": {"enum": ["document", "graphic", "song", "motion_picture", "manuscript"]},
                "title": {"type": "string"},
                "author": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "family": {"type": "string"},
                            "given": {"type": "string"},
                            "literal": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                },
                "issued": {
                    "type": "object",
                    "required": ["date-parts"],
                    "properties": {
                        "date-parts": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "integer"}},
                        }
                    },
                },
                "URL": {"type": "string"},
                "version": {"type": "string"},
            },
        },
    }
    jsonschema.validate(csl, csl_schema)
    assert csl[0]["id"] == rid

    ris = cite(api, rid, "ris")
    lines = ris.split("\r\n")
    assert lines[0] == "TY  - GEN"
    assert lines[-2] == "ER  - "
    tags = {line[:2] for line in lines if line}
    assert {"TY", "TI", "AU", "PY", "UR", "ID", "ER"} <= tags
    assert all(line[2:6] == "  - " for line in lines if line)
    assert api.get(f"/api/records/{rid}/cite", format="mla").status_code == 400


def test_openapi_schema_lists_the_endpoints() -> None:
    schema = Client().get("/api/openapi.json").json()
    paths = set(schema["paths"])
    assert "/api/records/{rid}/tree" in paths
    assert "/api/projects/{project}/documents/{document}/snapshots" in paths
    assert "/api/records/{rid}/cite" in paths
