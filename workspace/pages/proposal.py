"""The page of one payment-split proposal: ``/p/<slug>/proposals/<id>``.

Shows the money, the lines per pool (shares as percentages, amounts), a comment thread per
line with the leads' answers under the comment they answer, the comment window's deadline
(ticked down live by the ``src/proposal.ts`` bundle), acceptances bound to a version hash
(stale after later edits), the edit log, and the payouts once final.

Every form POSTs here with an ``action`` and the CSRF token; the view validates the input
and calls the service in :mod:`workspace.proposals.services`. Success redirects back to the page
(anchored at what changed); a refusal re-renders the page with the error next to the form,
with the status the service gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from workspace.access import can_see_project
from workspace.models import Project, Proposal, ProposalComment, ProposalLine, ProposalState
from workspace.pages.bundles import frontend_bundle
from workspace.proposals import clock, payouts
from workspace.proposals.rules import LineSpec, ProposalRefused
from workspace.proposals.selectors import proposal_json, proposal_visible
from workspace.proposals.services import (
    proposal_accept,
    proposal_comment,
    proposal_finalise,
    proposal_line_add,
    proposal_line_delete,
    proposal_line_edit,
    proposal_prefill,
    proposal_publish,
    proposal_settings_edit,
)

BUNDLE_ENTRY = "src/proposal.ts"

# What the edit log calls each logged field of a line or of the proposal's terms.
FIELD_LABELS = {
    "contributor": "contributor",
    "held_name": "held for",
    "records": "credited records",
    "role": "role",
    "pool": "pool",
    "share_bp": "share",
    "reasoning": "reasoning",
    "title": "title",
    "revenue": "revenue",
    "costs": "costs",
    "artists_share_bp": "artists' share of profit",
    "window_days": "window (days)",
    "pools": "pools",
}
ACTION_LABELS = {
    "create": "drafted the proposal",
    "settings": "changed the terms",
    "add": "added a line",
    "edit": "edited a line",
    "delete": "removed a line",
    "prefill": "prefilled a line from credit",
    "publish": "published the proposal",
    "finalise": "finalised the proposal",
}


def percent(bp: int) -> str:
    """Basis points as a percentage with two decimals (``4000`` -> ``"40.00"``)."""
    return f"{Decimal(bp) / 100:.2f}"


def parse_percent(raw: str, what: str) -> int:
    """A percentage typed in a form (``"12.5"``, ``"12,50 %"``) as basis points, 0-10,000."""
    text = raw.strip().removesuffix("%").strip().replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ProposalRefused(f"{what}: enter a percentage such as 12.5") from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise ProposalRefused(f"{what}: a percentage from 0 to 100")
    bp = value * 100
    if bp != bp.to_integral_value():
        raise ProposalRefused(f"{what}: at most two decimals (0.01 % is the smallest step)")
    return int(bp)


def parse_amount(raw: str, what: str) -> Decimal:
    """An amount of money typed in a form; the service checks it against the currency."""
    try:
        value = Decimal(raw.strip().replace(",", "."))
    except InvalidOperation:
        raise ProposalRefused(f"{what}: enter an amount such as 1200.50") from None
    if not value.is_finite():
        raise ProposalRefused(f"{what}: enter an amount such as 1200.50")
    return value


def money(amount_minor: int | None, currency: str) -> str | None:
    """Minor units shown in the currency's own decimals (``35999`` EUR -> ``"359.99"``)."""
    if amount_minor is None:
        return None
    places = payouts.minor_units(currency)
    return f"{Decimal(amount_minor).scaleb(-places):.{places}f}"


def _viewer(request: HttpRequest) -> User | AnonymousUser:
    return request.user if isinstance(request.user, User) else AnonymousUser()


def _display_names(usernames: set[str]) -> dict[str, str]:
    found = User.objects.filter(username__in=usernames).only("username", "first_name", "last_name")
    return {u.username: u.get_full_name() or u.username for u in found}


# ----------------------------------------------------------------------------- forms


@dataclass
class Outcome:
    """What a POST did: where to go back to, or the refusal to show next to its form."""

    anchor: str = ""
    error: str = ""
    status: int = 200
    target: str = ""
    posted: dict[str, str] = field(default_factory=dict)


def _line_of(proposal: Proposal, key: str) -> ProposalLine:
    line = (
        ProposalLine.objects.select_related("contributor")
        .prefetch_related("records")
        .filter(proposal=proposal, key=key)
        .first()
    )
    if line is None:
        raise ProposalRefused("that line is no longer in the proposal", 404)
    return line


def _line_spec(
    post: QueryDict, *, contributor: User | None, held_name: str, records: tuple[Any, ...]
) -> LineSpec:
    return LineSpec(
        contributor=contributor,
        held_name=held_name,
        role=str(post.get("role", "")),
        share_bp=parse_percent(str(post.get("share", "")), "Share"),
        reasoning=str(post.get("reasoning", "")),
        records=records,
        pool=str(post.get("pool", payouts.ARTISTS_POOL)) or payouts.ARTISTS_POOL,
    )


def _act(request: HttpRequest, proposal: Proposal, user: User) -> str:
    """Run the form's action; returns the anchor to go back to (raises ProposalRefused)."""
    post = request.POST
    action = post.get("action", "comment")
    if action == "comment":
        line = None
        parent = None
        parent_id = post.get("parent", "")
        if parent_id:
            if not parent_id.isdigit():
                raise ProposalRefused("no such comment", 404)
            parent = ProposalComment.objects.filter(proposal=proposal, pk=int(parent_id)).first()
            if parent is None:
                raise ProposalRefused("no such comment", 404)
        elif post.get("line"):
            line = _line_of(proposal, post["line"])
        found = proposal_comment(
            proposal=proposal, user=user, body=post.get("body", ""), line=line, parent=parent
        )
        return f"comment-{found.pk}"
    if action == "accept":
        proposal_accept(proposal=proposal, user=user, expected_hash=post.get("hash", ""))
        return "acceptances"
    if action == "line-edit":
        line = _line_of(proposal, post.get("line", ""))
        spec = _line_spec(
            post,
            contributor=line.contributor,
            held_name=line.held_name,
            records=tuple(line.records.all()),
        )
        proposal_line_edit(proposal=proposal, user=user, line=line, spec=spec)
        return f"line-{line.key}"
    if action == "line-add":
        username = post.get("contributor", "").strip()
        contributor = None
        if username:
            contributor = User.objects.filter(username=username).first()
            if contributor is None:
                raise ProposalRefused(f"no user is called {username!r}")
        spec = _line_spec(
            post, contributor=contributor, held_name=post.get("held_name", ""), records=()
        )
        added = proposal_line_add(proposal=proposal, user=user, spec=spec)
        return f"line-{added.key}"
    if action == "line-delete":
        proposal_line_delete(
            proposal=proposal, user=user, line=_line_of(proposal, post.get("line", ""))
        )
        return "lines"
    if action == "settings":
        proposal_settings_edit(
            proposal=proposal,
            user=user,
            title=post.get("title", ""),
            revenue=parse_amount(post.get("revenue", ""), "Revenue"),
            costs=parse_amount(post.get("costs", ""), "Costs"),
            artists_share_bp=parse_percent(post.get("artists_share", ""), "Artists' share"),
        )
        return "terms"
    if action == "prefill":
        proposal_prefill(proposal=proposal, user=user)
        return "lines"
    if action == "publish":
        proposal_publish(proposal=proposal, user=user)
        return "window"
    if action == "finalise":
        proposal_finalise(proposal=proposal, user=user)
        return "final"
    raise ProposalRefused(f"unknown action {action!r}")


def _target(post: QueryDict) -> str:
    """Which form a refusal belongs next to (the same ids the template gives its forms)."""
    action = post.get("action", "comment")
    if action == "comment":
        if post.get("parent"):
            return f"reply-{post['parent']}"
        return f"comment-on-{post.get('line', '')}"
    if action in ("line-edit", "line-delete"):
        return f"{action}-{post.get('line', '')}"
    if action in ("accept", "line-add", "settings"):
        return action
    return "lifecycle"


# ----------------------------------------------------------------------------- reading


def _threads(
    comments: list[dict[str, Any]], names: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Top-level comments per line key ("" for the proposal as a whole), each with every
    reply below it in time order; a reply says whom it answers when that is not the top."""
    by_id = {c["id"]: c for c in comments}
    roots: dict[int, int] = {}

    def root_of(cid: int) -> int:
        chain = []
        while cid not in roots:
            parent = by_id[cid]["parent"]
            if parent is None or parent not in by_id:
                roots[cid] = cid
                break
            chain.append(cid)
            cid = parent
        top = roots[cid]
        for seen in chain:
            roots[seen] = top
        return top

    threads: dict[str, list[dict[str, Any]]] = {}
    items = {
        c["id"]: {
            **c,
            "name": names.get(c["author"], c["author"]),
            "at": parse_datetime(c["created_at"]),
            "form_id": f"reply-{c['id']}",
            "replies": [],
        }
        for c in comments
    }
    for c in comments:
        if root_of(c["id"]) == c["id"]:
            threads.setdefault(c["line"] or "", []).append(items[c["id"]])
    for c in comments:
        top = root_of(c["id"])
        if top != c["id"]:
            parent = by_id[c["parent"]]
            if parent["id"] != top:
                items[c["id"]]["answers"] = names.get(parent["author"], parent["author"])
            items[top]["replies"].append(items[c["id"]])
    return threads


def _line_label(line: dict[str, Any] | None, names: dict[str, str]) -> str:
    if line is None:
        return ""
    if line.get("contributor"):
        username = str(line["contributor"])
        return names.get(username, username)
    return f"{line.get('held_name', '')} (held)"


def _show(key: str, value: Any, currency: str) -> str:
    if key in ("share_bp", "artists_share_bp") and isinstance(value, int):
        return f"{percent(value)} %"
    if key in ("revenue", "costs"):
        return f"{value} {currency}"
    if key == "records" and isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if key == "pools" and isinstance(value, list):
        return ", ".join(str(p.get("name")) for p in value) or "none"
    if value in (None, ""):
        return "—"
    return str(value)


def _log_entries(
    edits: list[dict[str, Any]], names: dict[str, str], currency: str
) -> list[dict[str, Any]]:
    entries = []
    for e in edits:
        before, after = e["before"] or {}, e["after"] or {}
        changes = []
        if e["action"] in ("edit", "settings"):
            for key, label in FIELD_LABELS.items():
                if key in before and before.get(key) != after.get(key):
                    changes.append(
                        {
                            "field": label,
                            "before": _show(key, before.get(key), currency),
                            "after": _show(key, after.get(key), currency),
                        }
                    )
        subject = after or before
        share = subject.get("share_bp") if e["line"] else None
        entries.append(
            {
                "at": parse_datetime(e["at"]),
                "actor": names.get(e["actor"], e["actor"]),
                "action": ACTION_LABELS.get(e["action"], e["action"]),
                "line": _line_label(subject, names) if e["line"] else "",
                "share": percent(share) if isinstance(share, int) else "",
                "changes": changes,
            }
        )
    return entries


def _context(proposal: Proposal, viewer: User | AnonymousUser) -> dict[str, Any]:
    data = proposal_json(proposal, viewer)
    currency = data["currency"]
    usernames = {ln["contributor"] for ln in data["lines"] if ln["contributor"]}
    usernames |= {c["author"] for c in data["comments"]}
    usernames |= {a["user"] for a in data["acceptances"]}
    usernames |= {e["actor"] for e in data["edits"]}
    for e in data["edits"]:
        for side in (e["before"], e["after"]):
            if isinstance(side, dict) and side.get("contributor"):
                usernames.add(side["contributor"])
    names = _display_names(usernames)
    threads = _threads(data["comments"], names)
    final = data["state"] == ProposalState.FINAL
    lead = data["you"]["lead"]
    published = data["state"] == ProposalState.PUBLISHED
    can_comment = isinstance(viewer, User) and published and (data["window_open"] or lead)
    editable = lead and (data["state"] == ProposalState.DRAFT or data["window_open"])
    pools: dict[str, dict[str, Any]] = {}
    pool_amounts = data["pool_amounts"] or {}
    for spec in [{"name": payouts.ARTISTS_POOL}, *data["pools"]]:
        name = spec["name"]
        if name == payouts.ARTISTS_POOL:
            basis = f"{percent(data['artists_share_bp'])} % of profit"
        elif spec.get("amount_minor") is not None:
            basis = "a fixed amount"
        else:
            basis = f"{percent(spec.get('share_of_profit_bp') or 0)} % of profit"
        pools[name] = {
            "name": name,
            "basis": basis,
            "amount": money(pool_amounts.get(name), currency),
            "lines": [],
            "total_bp": 0,
        }
    for ln in data["lines"]:
        pool = pools.setdefault(
            ln["pool"],
            {"name": ln["pool"], "basis": "", "amount": None, "lines": [], "total_bp": 0},
        )
        pool["total_bp"] += ln["share_bp"]
        pool["lines"].append(
            {
                **ln,
                "name": _line_label(ln, names),
                "username": ln["contributor"],
                "percent": percent(ln["share_bp"]),
                "amount": money(ln["amount_minor"], currency),
                "comments": threads.get(ln["key"], []),
                "comment_form": f"comment-on-{ln['key']}",
                "edit_form": f"line-edit-{ln['key']}",
                "delete_form": f"line-delete-{ln['key']}",
            }
        )
    for pool in pools.values():
        pool["total"] = percent(pool["total_bp"])
    me = viewer.get_username() if isinstance(viewer, User) else ""
    acceptances = [
        {**a, "name": names.get(a["user"], a["user"]), "at": parse_datetime(a["accepted_at"])}
        for a in data["acceptances"]
    ]
    mine = next((a for a in acceptances if a["user"] == me), None)
    deadline = parse_datetime(data["deadline"]) if data["deadline"] else None
    bundle = frontend_bundle(BUNDLE_ENTRY)
    return {
        "p": data,
        "profit": money(data["profit_minor"], currency),
        "artists_percent": percent(data["artists_share_bp"]),
        "pools": list(pools.values()),
        "pool_names": list(pools),
        "general_comments": threads.get("", []),
        "acceptances": acceptances,
        "my_acceptance": mine,
        "can_accept": data["you"]["included"]
        and data["hash"] is not None
        and data["state"] != ProposalState.DRAFT,
        "can_comment": can_comment,
        "lead": lead,
        "editable": editable,
        "can_finalise": lead and published and not data["window_open"],
        "deadline": deadline,
        "deadline_iso": deadline.isoformat(timespec="milliseconds") if deadline else "",
        "now_iso": clock.now().isoformat(timespec="milliseconds"),
        "log": _log_entries(data["edits"], names, currency),
        "finalised_at": parse_datetime(data["final"]["finalised_at"]) if final else None,
        "bundle": bundle,
    }


# ----------------------------------------------------------------------------- view


@require_http_methods(["GET", "POST"])
def proposal_page(request: HttpRequest, project: str, proposal_id: int) -> HttpResponse:
    """``/p/<slug>/proposals/<id>``: the proposal to read and discuss; 404 when invisible.

    POST (the page's forms, CSRF-protected, ``action`` names the form): comment or answer,
    accept, and for leads add/edit/remove a line, change the terms, prefill, publish and
    finalise. Signed-out visitors are sent to sign in.
    """
    found = Project.objects.filter(slug=project).first()
    viewer = _viewer(request)
    if found is None or not can_see_project(user=viewer, project=found):
        raise Http404("no such proposal")
    proposal = (
        Proposal.objects.select_related("project", "production")
        .filter(project=found, pk=proposal_id)
        .first()
    )
    if proposal is None or not proposal_visible(viewer, proposal):
        raise Http404("no such proposal")
    outcome = Outcome()
    if request.method == "POST":
        if not isinstance(viewer, User):
            return redirect_to_login(request.path)
        try:
            anchor = _act(request, proposal, viewer)
        except ProposalRefused as exc:
            outcome = Outcome(
                error=str(exc),
                status=exc.status,
                target=_target(request.POST),
                posted={
                    k: request.POST.get(k, "") for k in request.POST if k != "csrfmiddlewaretoken"
                },
            )
        else:
            return redirect(f"{request.path}#{anchor}")
        proposal.refresh_from_db()
    context = _context(proposal, viewer)
    context.update(
        project=found,
        error=outcome.error,
        error_target=outcome.target,
        posted=outcome.posted,
        add_values=outcome.posted if outcome.target == "line-add" else {},
    )
    return render(request, "workspace/proposal.html", context, status=outcome.status)
