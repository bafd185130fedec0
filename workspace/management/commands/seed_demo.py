"""``manage.py seed_demo``: the demo users and project, created or refreshed idempotently."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from workspace.documents.services import document_create
from workspace.models import Document, DocumentKind, Project, Role, Visibility
from workspace.projects.services import demo_user, membership_set, project_create

DEMO_PASSWORD = "troupe-demo"  # noqa: S105 - the documented demo password
DEMO_USERS = (("alice", Role.LEAD), ("bob", Role.EDITOR), ("vera", Role.VIEWER))
DEMO_DOCUMENTS = (
    ("script", "Pilot script", DocumentKind.SCRIPT),
    ("storyboard", "Pilot storyboard", DocumentKind.STORYBOARD),
)


class Command(BaseCommand):
    help = "Create the demo users (alice, bob, vera) and the 'demo' project; safe to re-run."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            users = {
                name: demo_user(username=name, password=DEMO_PASSWORD, email=f"{name}@example.com")
                for name, _ in DEMO_USERS
            }
            project = Project.objects.filter(slug="demo").first() or project_create(
                slug="demo",
                title="Demo production",
                created_by=users["alice"],
                visibility=Visibility.PRIVATE,
            )
            for name, role in DEMO_USERS:
                membership_set(project=project, user=users[name], role=role)
            for slug, title, kind in DEMO_DOCUMENTS:
                if not Document.objects.filter(project=project, slug=slug).exists():
                    document_create(project=project, slug=slug, title=title, kind=kind)
        self.stdout.write("demo ready: users alice (lead), bob (editor), vera (viewer)")
