"""The signed-in home page: the user's projects and their documents."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspace.models import Document, Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's projects and their documents."""
    user_id = request.user.pk or 0
    memberships = (
        Membership.objects.filter(user_id=user_id)
        .select_related("project")
        .order_by("project__title")
    )
    documents = Document.objects.filter(
        project_id__in=[m.project_id for m in memberships]
    ).order_by("project_id", "slug")
    return render(
        request,
        "workspace/home.html",
        {"memberships": memberships, "documents": documents},
    )
