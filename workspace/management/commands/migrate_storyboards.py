"""``manage.py migrate_storyboards``: move every stored storyboard of the first schema to
the board schema (the server also does it when a storyboard is opened)."""

from typing import Any

from django.core.management.base import BaseCommand

from workspace.documents.services import storyboard_migrate
from workspace.models import Document, DocumentKind


class Command(BaseCommand):
    help = "Move storyboards of the first schema (panels array) to the board schema."

    def handle(self, *args: Any, **options: Any) -> None:
        moved = 0
        ids = Document.objects.filter(kind=DocumentKind.STORYBOARD).values_list("pk", flat=True)
        for document_id in ids.iterator():
            if storyboard_migrate(document_id=document_id):
                moved += 1
        self.stdout.write(f"{moved} storyboard(s) moved to the board schema")
