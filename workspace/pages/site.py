"""Site pages around the rooms: projects, a new project, open calls, the inbox.

Server-rendered and usable without JavaScript: filters are GET forms (shareable URLs),
changes are POST forms with CSRF that call the same services as the API, then redirect.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workspace.models import Interest, Membership, Notification, Visibility
from workspace.notifications.selectors import inbox, unread_count
from workspace.notifications.services import interests_set, notifications_mark_read
from workspace.pages.bundles import frontend_bundle
from workspace.pages.forms import InterestsForm, ProjectCreateForm
from workspace.productions.rules import TEMPLATES, ProductionRefused
from workspace.productions.services import calls_browse, project_create_from_template
from workspace.projects.selectors import projects_listing, user_interests

APP_ENTRY = "src/app.ts"
CALLS_PER_PAGE = 20


def _user(request: HttpRequest) -> User:
    # login_required has run: anything else is a misconfiguration, shown as a 404.
    if not isinstance(request.user, User):
        raise Http404("sign in first")
    return request.user


def site_context(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the header's unread count (computed only when shown) and bundle."""
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {"unread_notifications": 0, "app_bundle": None}
    user_id = user.pk
    return {
        "unread_notifications": lambda: unread_count(user_id),
        "app_bundle": frontend_bundle(APP_ENTRY),
    }


# ----------------------------------------------------------------------------- projects


@login_required
@require_GET
def projects_page(request: HttpRequest) -> HttpResponse:
    """``/projects/``: the user's projects (role, status) and public projects to read."""
    listing = projects_listing(user_id=_user(request).pk)
    return render(request, "workspace/projects.html", {"listing": listing})


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    """A template as the new-project form offers it."""

    key: str
    name: str
    description: str
    documents: list[str]
    calls: list[str]


def _template_choices() -> list[TemplateChoice]:
    return [
        TemplateChoice(
            key=key,
            name=spec.name,
            description=spec.description,
            documents=[title for _, title, _ in spec.documents],
            calls=[call.title for call in spec.calls],
        )
        for key, spec in TEMPLATES.items()
    ]


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    """``/projects/new``: start a project from a template, then land in its room."""
    user = _user(request)
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = project_create_from_template(
                slug=data["slug"],
                title=data["title"],
                created_by=user,
                template=data["template"],
                visibility=Visibility(data["visibility"]),
                logline=data["logline"],
            )
        except ProductionRefused as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            return redirect("project-room", project=project.slug)
    return render(
        request,
        "workspace/project_new.html",
        {"form": form, "templates": _template_choices()},
        status=400 if form.is_bound else 200,
    )


# ----------------------------------------------------------------------------- calls


def _chosen_interests(request: HttpRequest) -> list[str]:
    wanted = set(request.GET.getlist("interest"))
    return [value for value in Interest.values if value in wanted]


def _calls_page(
    request: HttpRequest, user: User, interests_form: InterestsForm, status: int = 200
) -> HttpResponse:
    chosen = _chosen_interests(request)
    saved = user_interests(user_id=user.pk)
    page = Paginator(calls_browse(member_id=user.pk, interests=chosen), CALLS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    own = set(Membership.objects.filter(user=user).values_list("project_id", flat=True))
    chips = [
        {"value": value, "label": label, "checked": value in chosen, "saved": value in saved}
        for value, label in Interest.choices
    ]
    return render(
        request,
        "workspace/calls.html",
        {
            "page": page,
            "chips": chips,
            "chosen": chosen,
            "saved": saved,
            "saved_labels": [Interest(i).label for i in saved if i in Interest.values],
            "saved_query": urlencode([("interest", i) for i in saved]),
            "filter_query": urlencode([("interest", i) for i in chosen]),
            "own_projects": own,
            "interests_form": interests_form,
        },
        status=status,
    )


@login_required
@require_GET
def calls_page(request: HttpRequest) -> HttpResponse:
    """``/calls/?interest=music&interest=writing``: open calls of public and own projects."""
    user = _user(request)
    form = InterestsForm(initial={"interests": user_interests(user_id=user.pk)})
    return _calls_page(request, user, form)


@login_required
@require_POST
def calls_interests(request: HttpRequest) -> HttpResponse:
    """Save the user's interests (the calls page's form), back to the same filter."""
    user = _user(request)
    form = InterestsForm(request.POST)
    if not form.is_valid():
        return _calls_page(request, user, form, status=400)
    interests_set(user_id=user.pk, interests=form.cleaned_data["interests"])
    messages.success(request, "Your interests are saved.")
    query = urlencode([("interest", i) for i in _chosen_interests(request)])
    return redirect(f"{reverse('calls')}?{query}" if query else reverse("calls"))


# ----------------------------------------------------------------------------- inbox


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One inbox entry (a burst on one object is one entry with a count) and its link."""

    id: int
    reason: str
    count: int
    read: bool
    project: str | None
    updated_at: datetime
    link: str | None


def notification_link(entry: dict[str, Any]) -> str | None:
    """Where an entry leads: the record, the proposal, or the project's room."""
    kind, object_id, project = entry["object_type"], str(entry["object_id"]), entry["project"]
    if kind == "record":
        return reverse("record-page", args=[object_id])
    if project is None or entry["event"] == "membership.removed":
        return None
    if kind == "proposal" and object_id.isdigit():
        return reverse("proposal-page", args=[project, int(object_id)])
    return reverse("project-room", args=[project])


@login_required
@require_GET
def inbox_page(request: HttpRequest) -> HttpResponse:
    """``/inbox/``: the user's notifications, newest first, unread ones marked."""
    data = inbox(_user(request).pk)
    items = [
        InboxItem(
            id=entry["id"],
            reason=entry["reason"],
            count=entry["count"],
            read=entry["read"],
            project=entry["project"],
            updated_at=datetime.fromisoformat(entry["updated_at"]),
            link=notification_link(entry),
        )
        for entry in data["items"]
    ]
    return render(request, "workspace/inbox.html", {"items": items, "unread": data["unread"]})


@login_required
@require_POST
def inbox_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one of the user's entries read."""
    user = _user(request)
    if not Notification.objects.filter(user=user, pk=notification_id).exists():
        raise Http404("no such notification")
    notifications_mark_read(user_id=user.pk, ids=[notification_id])
    return redirect(f"{reverse('inbox')}#n-{notification_id}")


@login_required
@require_POST
def inbox_read_all(request: HttpRequest) -> HttpResponse:
    """Mark every entry read."""
    marked = notifications_mark_read(user_id=_user(request).pk)
    messages.success(request, f"Marked {marked} read." if marked else "Nothing was unread.")
    return redirect("inbox")
