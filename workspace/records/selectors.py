"""Reads of records: who may read or contribute, contents, credit, exports, the family tree."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.files.storage import default_storage
from django.db.models import Q

from crdt.attribution import ScriptCredit, StoryboardCredit, script_credit, storyboard_credit
from workspace.access import can_see_project
from workspace.models import (
    Blob,
    Document,
    DocumentUpdate,
    Record,
    RecordAuthor,
    RecordKind,
    Snapshot,
    Visibility,
)
from workspace.records.rules import LICENCES


def blob_bytes(blob: Blob) -> bytes:
    """The stored bytes of a blob."""
    with default_storage.open(blob.storage_name, "rb") as handle:
        data: bytes = handle.read()
    return data


def record_readable(*, user: User | AnonymousUser, record: Record) -> bool:
    """Anyone reads records of public projects and personal records; else members only."""
    if user.is_authenticated and record.created_by_id == user.pk:
        return True
    return record.project is None or can_see_project(user=user, project=record.project)


def records_readable_filter(user: User | AnonymousUser) -> Q:
    """The ORM filter of records ``user`` may read."""
    allowed = Q(project__isnull=True) | Q(project__visibility=Visibility.PUBLIC)
    if user.is_authenticated:
        allowed |= Q(created_by_id=user.pk) | Q(project__memberships__user_id=user.pk)
    return allowed


def record_content_bytes(record: Record) -> bytes:
    """The bytes whose SHA-256 is ``content.sha256`` in the canonical JSON."""
    if record.blob is not None:
        return blob_bytes(record.blob)
    return record.text.encode("utf-8")


def image_authors(rids: Iterable[str]) -> dict[str, list[tuple[int, str]]]:
    """``(user id, username)`` of each image record's authors in credit order, by record id.

    One query for all of them; an id with no record here (not uploaded to this server, or
    a typo that still matches the id pattern) is left out.
    """
    wanted = {r for r in rids if r}
    out: dict[str, list[tuple[int, str]]] = {}
    if not wanted:
        return out
    rows = (
        RecordAuthor.objects.filter(record__rid__in=wanted)
        .order_by("record_id", "position")
        .values_list("record__rid", "user_id", "user__username")
    )
    for rid, user_id, username in rows:
        out.setdefault(rid, []).append((user_id, username))
    return out


def _owner_names(ids: Iterable[int | None]) -> Callable[[int | None], str]:
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[i for i in ids if i is not None])
        .values_list("pk", "username")
    )

    def name(owner: int | None) -> str:
        return names.get(owner, f"user-{owner}") if owner is not None else "(unattributed)"

    return name


def _by_owner(owners: Iterable[int | None]) -> list[int | None]:
    # Unattributed first, then by user id: a stable order for the JSON.
    return sorted(set(owners), key=lambda o: -1 if o is None else o)


def _deleted_json(credit: ScriptCredit | StoryboardCredit, owner: int | None) -> dict[str, int]:
    found = credit.deleted.get(owner)
    return {"own": found.own, "others": found.others} if found else {"own": 0, "others": 0}


def credit_as_json(credit: ScriptCredit | StoryboardCredit) -> dict[str, Any]:
    """A script's or storyboard's credit as JSON, per person by display name.

    A storyboard's JSON follows the storyboard v2 contract (issue #24): each panel with its
    creator, text writers, field setters, image and the image record's authors; each person
    with their text, panel, field and image figures.
    """
    if isinstance(credit, ScriptCredit):
        owners = _by_owner([*credit.surviving, *credit.typed, *credit.deleted])
        name = _owner_names(owners)
        users = {
            name(owner): {
                "user_id": owner,
                "surviving": credit.surviving.get(owner, 0),
                "typed": credit.typed.get(owner, 0),
                "deleted": _deleted_json(credit, owner),
                "by_scene": {
                    scene: counts[owner]
                    for scene, counts in credit.by_scene.items()
                    if counts.get(owner)
                },
            }
            for owner in owners
        }
        return {
            "kind": "script",
            "unit": "utf16",
            "length": credit.length,
            "scenes": credit.scenes,
            "users": users,
        }
    authors = image_authors(p.image for p in credit.panels if p.image)
    images: Counter[int | None] = Counter()
    for panel in credit.panels:
        # A person listed twice on a record is impossible (one_author_entry_per_user).
        images.update(user_id for user_id, _ in authors.get(panel.image or "", []))
    owners = _by_owner(
        [
            *credit.surviving,
            *credit.typed,
            *credit.deleted,
            *credit.panels_created,
            *credit.fields_set,
            *credit.panels_deleted,
            *images,
        ]
    )
    name = _owner_names(owners)
    return {
        "kind": "storyboard",
        "unit": "utf16",
        "length": credit.length,
        "panels": [
            {
                "panel": p.panel,
                "created_by": name(p.created_by),
                "text": {
                    field: {name(o): n for o, n in sorted(counts.items(), key=_owner_count)}
                    for field, counts in p.text.items()
                },
                "fields": {k: name(v) for k, v in sorted(p.fields.items())},
                "image": p.image,
                "image_authors": [username for _, username in authors.get(p.image or "", [])],
            }
            for p in credit.panels
        ],
        "users": {
            name(owner): {
                "user_id": owner,
                "surviving": credit.surviving.get(owner, 0),
                "typed": credit.typed.get(owner, 0),
                "deleted": _deleted_json(credit, owner),
                "panels_created": credit.panels_created.get(owner, 0),
                "fields_set": credit.fields_set.get(owner, 0),
                "panels_deleted": credit.panels_deleted.get(owner, 0),
                "images": images.get(owner, 0),
            }
            for owner in owners
        },
    }


def _owner_count(item: tuple[int | None, int]) -> tuple[int, int]:
    # Most units first, then by user id.
    owner, count = item
    return (-count, -1 if owner is None else owner)


def document_credit(
    *, document: Document, state: bytes, bindings: dict[int, int], through_update_id: int
) -> ScriptCredit | StoryboardCredit:
    """Credit of a document's state from its attributed log up to ``through_update_id``."""
    log = (
        (user_id, bytes(update))
        for user_id, update in DocumentUpdate.objects.filter(
            document_id=document.pk, id__lte=through_update_id
        )
        .order_by("id")
        .values_list("user_id", "update")
        .iterator()
    )
    if document.schema == "script":
        return script_credit(state, bindings, log)
    return storyboard_credit(state, bindings, log)


def latest_snapshot(document: Document) -> Record | None:
    """The newest snapshot record of a document."""
    return (
        Record.objects.filter(snapshot__document=document)
        .select_related("snapshot")
        .order_by("-created_at", "-pk")
        .first()
    )


def snapshot_content(record: Record) -> str | list[dict[str, Any]]:
    """A snapshot's normalised content: Fountain text or the list of panels."""
    if record.kind == RecordKind.SCRIPT_SNAPSHOT:
        return record.text
    panels: list[dict[str, Any]] = json.loads(record.text)["panels"]
    return panels


def record_export(record: Record, user: User | AnonymousUser) -> dict[str, Any]:
    """The exported JSON of a record: its id, the canonical metadata it hashes, and links.

    ``id == "trp:rec:1:" + sha256(canonical_json(export["canonical"]))``. Linked records
    the user may not read are counted, not named.
    """
    resources = [c.resource for c in record.resource_links.select_related("resource__project")]
    remixes = [c.record for c in record.remix_links.select_related("record__project")]
    next_version = getattr(record, "next_version", None)
    canonical = json.loads(record.canonical)
    licence = (record.licence, record.licence_version)
    out: dict[str, Any] = {
        "id": record.rid,
        "work": record.work.wid,
        "version": record.version,
        "canonical": canonical,
        "licence_text": LICENCES.get(licence, ""),
        "resources": [r.rid for r in resources if record_readable(user=user, record=r)],
        "remixes": [r.rid for r in remixes if record_readable(user=user, record=r)],
        "hidden_links": sum(
            not record_readable(user=user, record=r) for r in [*resources, *remixes]
        ),
        "next_version": next_version.rid if next_version is not None else None,
    }
    snap = Snapshot.objects.filter(record=record).first()
    if snap is not None:
        out["snapshot"] = {
            "through_update_id": snap.through_update_id,
            "contains_previous": snap.contains_previous,
            "credit": snap.credit,
        }
    return out


def record_tree(*, record: Record, user: User | AnonymousUser, depth: int) -> dict[str, Any]:
    """Ancestors (resources, recursively) and descendants (remixes) up to ``depth`` levels.

    Records the user may not read are left out and counted as ``hidden``.
    """
    hidden: set[int] = set()

    def node(r: Record) -> dict[str, Any]:
        return {"id": r.rid, "title": r.title, "kind": r.kind, "version": r.version}

    def walk(r: Record, level: int, up: bool, seen: set[int]) -> dict[str, Any]:
        out = node(r)
        if level >= depth:
            return out
        links = (
            Record.objects.filter(remix_links__record=r)
            if up
            else Record.objects.filter(resource_links__resource=r)
        ).order_by("pk")
        children = []
        for child in links.select_related("project"):
            if not record_readable(user=user, record=child):
                hidden.add(child.pk)
                continue
            seen.add(child.pk)
            children.append(walk(child, level + 1, up, seen))
        out["resources" if up else "remixes"] = children
        return out

    ancestors: set[int] = set()
    descendants: set[int] = set()
    up = walk(record, 0, True, ancestors)
    down = walk(record, 0, False, descendants)
    return {
        **node(record),
        "depth": depth,
        "resources": up.get("resources", []),
        "remixes": down.get("remixes", []),
        "counts": {
            "ancestors": len(ancestors),
            "descendants": len(descendants),
            "hidden": len(hidden),
        },
    }
