"""Factories for the data most tests need: users with API tokens, and a project with a
script, a storyboard and one member of each role (plus an outsider)."""

import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, User

from workspace.documents.services import document_create
from workspace.models import Document, DocumentKind, Project, Role, Visibility
from workspace.projects.services import membership_set, project_create, token_issue

PASSWORD = "correct-horse-battery"


def user_make(prefix: str) -> User:
    """A user named ``<prefix>-<6 hex>`` with the password ``PASSWORD``."""
    return get_user_model().objects.create_user(
        username=f"{prefix}-{uuid.uuid4().hex[:6]}", password=PASSWORD
    )


@dataclass
class Member:
    """A user of a test project with an API token."""

    user: AbstractBaseUser
    token: str
    role: Role | None


@dataclass
class ProjectRoom:
    """A fresh project with a script and a storyboard, and its members."""

    project: Project
    script: Document
    storyboard: Document
    members: dict[str, Member]

    def room(self, document: Document) -> str:
        return f"{self.project.slug}/{document.slug}"

    def add(self, name: str, role: Role | None) -> Member:
        user = user_make(name)
        if role is not None:
            membership_set(project=self.project, user=user, role=role)
        member = Member(user=user, token=token_issue(user=user), role=role)
        self.members[name] = member
        return member


def project_room_make(*, visibility: Visibility = Visibility.PRIVATE) -> ProjectRoom:
    """A unique project led by ``lead``, with ``editor``, ``viewer`` and ``outsider``."""
    lead = user_make("lead")
    project = project_create(
        slug=f"p-{uuid.uuid4().hex[:10]}", title="Test", created_by=lead, visibility=visibility
    )
    room = ProjectRoom(
        project=project,
        script=document_create(
            project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
        ),
        storyboard=document_create(
            project=project, slug="board", title="Board", kind=DocumentKind.STORYBOARD
        ),
        members={"lead": Member(user=lead, token=token_issue(user=lead), role=Role.LEAD)},
    )
    room.add("editor", Role.EDITOR)
    room.add("viewer", Role.VIEWER)
    room.add("outsider", None)
    return room
