"""The page of one record (``/records/<rid>``): content, credit, citations and its family tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from workspace.documents.exports import format_duration, panel_rows, script_html
from workspace.models import Record, RecordKind, Snapshot
from workspace.records.rules import LICENCES
from workspace.records.selectors import (
    record_export,
    record_readable,
    record_tree,
    snapshot_content,
)

CITATION_FORMATS = (
    ("bibtex", "BibTeX"),
    ("csl-json", "CSL-JSON"),
    ("ris", "RIS"),
    ("cff", "CITATION.cff"),
)
TREE_DEPTH = 3


NODE_W = 220
NODE_H = 48
GAP_X = 24
GAP_Y = 56
MARGIN = 16


@dataclass(slots=True)
class TreeNode:
    """A box of the family-tree graph."""

    id: str
    title: str
    kind: str
    version: int
    level: int
    current: bool = False
    x: int = 0
    y: int = 0

    @property
    def href(self) -> str:
        return f"/records/{self.id}"

    @property
    def label(self) -> str:
        return self.title if len(self.title) <= 28 else self.title[:27] + "…"

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2

    @property
    def text_y(self) -> int:
        return self.y + 20

    @property
    def sub_y(self) -> int:
        return self.y + 38


@dataclass(frozen=True, slots=True)
class TreeEdge:
    """A line from a resource's box (above) to the record that cites it (below)."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(slots=True)
class TreeGraph:
    """The laid-out family tree: nodes by level, edges, and the drawing's size."""

    nodes: list[TreeNode] = field(default_factory=list)
    edges: list[TreeEdge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    hidden: int = 0


def tree_graph(tree: dict[str, Any]) -> TreeGraph:
    """Lay out ``record_tree``'s answer: ancestors above, the record, descendants below."""
    nodes: dict[str, TreeNode] = {}
    links: set[tuple[str, str]] = set()

    def add(data: dict[str, Any], level: int) -> TreeNode:
        rid = str(data["id"])
        if rid not in nodes:
            nodes[rid] = TreeNode(
                id=rid,
                title=str(data.get("title", "")),
                kind=str(data.get("kind", "")),
                version=int(data.get("version", 1)),
                level=level,
            )
        return nodes[rid]

    def up(data: dict[str, Any], level: int) -> None:
        below = add(data, level)
        for parent in data.get("resources", []):
            above = add(parent, level - 1)
            links.add((above.id, below.id))
            up(parent, level - 1)

    def down(data: dict[str, Any], level: int) -> None:
        above = add(data, level)
        for child in data.get("remixes", []):
            below = add(child, level + 1)
            links.add((above.id, below.id))
            down(child, level + 1)

    root = add(tree, 0)
    root.current = True
    up(tree, 0)
    down(tree, 0)
    levels = sorted({n.level for n in nodes.values()})
    rows = {level: [n for n in nodes.values() if n.level == level] for level in levels}
    widest = max(len(row) for row in rows.values())
    width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X
    for i, level in enumerate(levels):
        row = rows[level]
        row_width = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = (width - row_width) // 2
        for j, node in enumerate(row):
            node.x = left + j * (NODE_W + GAP_X)
            node.y = MARGIN + i * (NODE_H + GAP_Y)
    edges = [
        TreeEdge(nodes[a].cx, nodes[a].y + NODE_H, nodes[b].cx, nodes[b].y)
        for a, b in sorted(links)
    ]
    height = 2 * MARGIN + len(levels) * NODE_H + (len(levels) - 1) * GAP_Y
    ordered = [n for level in levels for n in rows[level]]
    hidden = int(tree.get("counts", {}).get("hidden", 0))
    return TreeGraph(nodes=ordered, edges=edges, width=width, height=height, hidden=hidden)


def _viewer(request: HttpRequest) -> User | AnonymousUser:
    return request.user if isinstance(request.user, User) else AnonymousUser()


_SCRIPT_FIGURES = (("surviving", "Surviving characters"), ("typed", "Typed"))
_BOARD_FIGURES = (
    ("surviving", "Surviving characters"),
    ("panels_created", "Panels created"),
    ("fields_set", "Fields set"),
    ("images", "Images"),
    ("panels_deleted", "Panels deleted"),
)


def credit_rows(credit: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The snapshot's credit as table headings and one row per contributor."""
    users: dict[str, dict[str, Any]] = credit.get("users", {})
    if credit.get("kind") == "script":
        headings = [label for _, label in _SCRIPT_FIGURES] + ["Deleted own", "Deleted others'"]
        rows = []
        for name, info in users.items():
            deleted = info.get("deleted", {})
            figures = [info.get(key, 0) for key, _ in _SCRIPT_FIGURES]
            figures += [deleted.get("own", 0), deleted.get("others", 0)]
            rows.append({"name": name, "figures": figures})
        length = int(credit.get("length", 0)) or 0
        for row in rows:
            share = 100 * row["figures"][0] / length if length else 0
            row["share"] = f"{share:.1f}%"
        return [*headings, "Share"], rows
    headings = [label for _, label in _BOARD_FIGURES]
    rows = [
        {"name": name, "figures": [info.get(key, 0) for key, _ in _BOARD_FIGURES]}
        for name, info in users.items()
    ]
    return headings, rows


def _linked(records: list[Record], user: User | AnonymousUser) -> tuple[list[Record], int]:
    readable = [r for r in records if record_readable(user=user, record=r)]
    return readable, len(records) - len(readable)


def _wants_json(request: HttpRequest) -> bool:
    """``?format=json`` or an Accept header preferring JSON over HTML."""
    if request.GET.get("format") == "json":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


@require_GET
def record_page(request: HttpRequest, rid: str) -> HttpResponse:
    """``/records/<id>``: a record's metadata, credit, preview, citations and family tree."""
    user = _viewer(request)
    record = (
        Record.objects.select_related("project", "work", "blob", "created_by")
        .filter(rid=rid)
        .first()
    )
    if record is None or not record_readable(user=user, record=record):
        raise Http404("No such record")
    if _wants_json(request):
        return JsonResponse(record_export(record, user))
    authors = [
        {
            "username": a.user.get_username(),
            "name": a.user.get_full_name() or a.user.get_username(),
            "roles": list(a.roles),
        }
        for a in record.authors.select_related("user").order_by("position")
    ]
    resources, hidden_resources = _linked(
        [c.resource for c in record.resource_links.select_related("resource__project")], user
    )
    remixes, hidden_remixes = _linked(
        [c.record for c in record.remix_links.select_related("record__project")], user
    )
    snap = Snapshot.objects.filter(record=record).first()
    credit_headings: list[str] = []
    credit: list[dict[str, Any]] = []
    if snap is not None and snap.credit:
        credit_headings, credit = credit_rows(snap.credit)
    preview: dict[str, Any] = {"type": "none"}
    content_url = f"/api/records/{record.rid}/content"
    if record.kind == RecordKind.SCRIPT_SNAPSHOT:
        preview = {"type": "script", "html": script_html(record.text)}
    elif record.kind == RecordKind.STORYBOARD_SNAPSHOT:
        content = snapshot_content(record)
        rows = panel_rows(content if isinstance(content, list) else [])
        total = format_duration(rows[-1].running_total_ms if rows else 0)
        preview = {"type": "storyboard", "rows": rows, "total": total}
    elif record.blob is not None:
        kind = {RecordKind.IMAGE: "image", RecordKind.AUDIO: "audio", RecordKind.VIDEO: "video"}
        preview = {"type": kind.get(RecordKind(record.kind), "none"), "url": content_url}
    elif record.kind == RecordKind.TEXT:
        preview = {"type": "text", "text": record.text}
    previous = record.previous if record.previous_id else None
    next_version = getattr(record, "next_version", None)
    tree = tree_graph(record_tree(record=record, user=user, depth=TREE_DEPTH))
    return render(
        request,
        "workspace/record.html",
        {
            "record": record,
            "kind_label": RecordKind(record.kind).label,
            "licence_text": LICENCES.get((record.licence, record.licence_version), ""),
            "authors": authors,
            "credit_headings": credit_headings,
            "credit": credit,
            "snapshot": snap,
            "preview": preview,
            "content_url": content_url,
            "citations": CITATION_FORMATS,
            "resources": resources,
            "remixes": remixes,
            "hidden_links": hidden_resources + hidden_remixes,
            "previous": previous,
            "next_version": next_version,
            "tree": tree,
            "node_w": NODE_W,
            "node_h": NODE_H,
        },
    )
