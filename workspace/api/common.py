"""What every router of the API shares: the error, the caller, the objects the caller may see."""

from __future__ import annotations

from typing import Literal

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from ninja.utils import check_csrf

from workspace.access import can_see_project, document_access, is_lead
from workspace.documents.selectors import document_by_path
from workspace.models import (
    Document,
    Project,
)


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def request_viewer(request: HttpRequest) -> User | AnonymousUser:
    """The caller, or an anonymous user."""
    user = request.user
    if isinstance(user, User):
        return user
    return AnonymousUser()


def request_actor(request: HttpRequest) -> User:
    """The signed-in user of an unsafe request, with CSRF checked for cookie sessions."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise ApiError(401, "authentication required")
    if not getattr(request, "_dont_enforce_csrf_checks", False):
        if check_csrf(request) is not None:
            raise ApiError(403, "CSRF token missing or incorrect")
    return user


def visible_project(request: HttpRequest, slug: str) -> Project:
    """A project the caller may see (404 otherwise)."""
    project = Project.objects.filter(slug=slug).first()
    if project is None or not can_see_project(user=request_viewer(request), project=project):
        raise ApiError(404, "no such project")
    return project


def led_project(request: HttpRequest, slug: str) -> tuple[Project, User]:
    """A project the signed-in caller leads, and the caller (404 unseen, 403 not a lead)."""
    user = request_actor(request)
    project = visible_project(request, slug)
    if not is_lead(user=user, project_id=project.pk):
        raise ApiError(403, "only leads do this")
    return project, user


def request_document(request: HttpRequest, project: str, document: str, *, write: bool) -> Document:
    """A document the caller may read, or write with ``write`` (401, 404 or 403 otherwise)."""
    user = request_actor(request) if write else request_viewer(request)
    if not user.is_authenticated:
        raise ApiError(401, "authentication required")
    found = document_by_path(project_slug=project, document_slug=document)
    if found is None:
        raise ApiError(404, "no such document")
    can_read, can_write = document_access(user=user, document=found)
    if not can_read:
        raise ApiError(404, "no such document")
    if write and not can_write:
        raise ApiError(403, "your role in this project cannot write")
    return found


InterestName = Literal["writing", "narration", "illustration", "animation", "music", "editing"]


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in caller (401 otherwise); no CSRF check, for reads."""
    user = request_viewer(request)
    if not isinstance(user, User) or not user.is_authenticated:
        raise ApiError(401, "authentication required")
    return user
