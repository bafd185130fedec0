"""Live documents and their durable Yjs state: snapshot, update log, client bindings."""

from django.conf import settings
from django.db import models

from crdt.documents import DocumentKind as SchemaKind
from workspace.models.projects import Project


class DocumentKind(models.TextChoices):
    """What a live document holds: a Fountain script or a storyboard of panels."""

    SCRIPT = "script", "Script"
    STORYBOARD = "storyboard", "Storyboard"


class Document(models.Model):
    """A live Yjs document of a project, addressed as ``<project-slug>/<document-slug>``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="documents")
    slug = models.SlugField(max_length=64)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=DocumentKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="document_slug_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.slug}"

    @property
    def schema(self) -> SchemaKind:
        """The CRDT schema of this document's kind."""
        return "script" if self.kind == DocumentKind.SCRIPT else "storyboard"


class DocumentState(models.Model):
    """The compacted state of a document: every log entry up to ``through_update_id`` merged.

    Loading a document is this state plus the log entries newer than ``through_update_id``.
    """

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="state")
    state = models.BinaryField()
    through_update_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"state of {self.document_id} through {self.through_update_id}"


class DocumentUpdate(models.Model):
    """One accepted Yjs update (v1), stamped with the authenticated user who sent it.

    The log is append-only and kept after compaction: it is the edit history that credit
    and diffs are computed from.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="updates")
    update = models.BinaryField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["document", "id"], name="update_log_by_document")]

    def __str__(self) -> str:
        return f"update {self.pk} of {self.document_id} by {self.user_id}"


class ClientBinding(models.Model):
    """Binds a Yjs client ID to the user who first wrote with it in a document."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="bindings")
    client_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "client_id"], name="one_user_per_client_id")
        ]

    def __str__(self) -> str:
        return f"client {self.client_id} of {self.document_id} is user {self.user_id}"
