"""Workspace models: projects, members, documents and their durable Yjs state."""

from django.conf import settings
from django.db import models

from crdt.documents import DocumentKind as SchemaKind


class Role(models.TextChoices):
    """A member's role in a project: leads and editors write, viewers read."""

    LEAD = "lead", "Lead"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


WRITER_ROLES = frozenset({Role.LEAD, Role.EDITOR})


class Visibility(models.TextChoices):
    """Who can read a project: everyone signed in, or its members only."""

    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private"


class Project(models.Model):
    """A production people make together."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    logline = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """A user's role in a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}:{self.role}"


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


class ApiToken(models.Model):
    """An API token for scripts and websocket clients; only its SHA-256 is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"
