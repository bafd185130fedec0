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


# --------------------------------------------------------------------------------------
# Records: citable contributions, their works, authors, citations and frozen snapshots.
# --------------------------------------------------------------------------------------


class RecordKind(models.TextChoices):
    """What a record holds."""

    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    SCRIPT_SNAPSHOT = "script_snapshot", "Script snapshot"
    STORYBOARD_SNAPSHOT = "storyboard_snapshot", "Storyboard snapshot"


class AuthorRole(models.TextChoices):
    """An author's part in a record (CRediT-like, in the trades of a production)."""

    AUTHOR = "author", "Author"
    WRITER = "writer", "Writer"
    NARRATOR = "narrator", "Narrator"
    ILLUSTRATOR = "illustrator", "Illustrator"
    ANIMATOR = "animator", "Animator"
    MUSICIAN = "musician", "Musician"
    EDITOR = "editor", "Editor"
    CONTRIBUTOR = "contributor", "Contributor"


class Blob(models.Model):
    """An uploaded file, stored once under its SHA-256 in the default storage."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    media_type = models.CharField(max_length=100)
    storage_name = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.media_type}, {self.size} B)"


class Work(models.Model):
    """A work across its versions; its id is derived from its first version's id."""

    wid = models.CharField(max_length=100, unique=True)
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, null=True, blank=True, related_name="works"
    )
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="works"
    )
    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.wid


class Record(models.Model):
    """One immutable version of a work. ``rid`` hashes its canonical JSON (``canonical``)."""

    rid = models.CharField(max_length=100, unique=True)
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    version_label = models.CharField(max_length=50, blank=True)
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_version"
    )
    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    licence = models.CharField(max_length=50)
    licence_version = models.CharField(max_length=20)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, null=True, blank=True, related_name="records"
    )
    media_type = models.CharField(max_length=100)
    content_sha256 = models.CharField(max_length=64)
    content_size = models.BigIntegerField()
    text = models.TextField(blank=True)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, null=True, blank=True)
    fingerprint = models.CharField(max_length=64)
    canonical = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["work", "version"], name="one_record_per_version"),
            models.UniqueConstraint(fields=["work", "fingerprint"], name="no_identical_versions"),
        ]

    def __str__(self) -> str:
        return self.rid

    def save(self, *args: object, **kwargs: object) -> None:
        """Records are immutable: a change is a new version."""
        if not self._state.adding:
            raise ValueError("records are immutable; create a new version instead")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class RecordAuthor(models.Model):
    """An author of a record with their roles, in credit order."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="authors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    roles = models.JSONField(default=list)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["record", "user"], name="one_author_entry_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.record_id}"


class Citation(models.Model):
    """``record`` cites ``resource`` (a record that existed when ``record`` was made)."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="resource_links")
    resource = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="remix_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "resource"], name="cite_once"),
            models.CheckConstraint(
                condition=~models.Q(record=models.F("resource")), name="no_self_citation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} cites {self.resource_id}"


class Snapshot(models.Model):
    """The frozen document state behind a snapshot record, with credit at freeze time."""

    record = models.OneToOneField(Record, on_delete=models.CASCADE, related_name="snapshot")
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="snapshots")
    state = models.BinaryField()
    state_vector = models.BinaryField()
    through_update_id = models.BigIntegerField()
    contains_previous = models.BooleanField(null=True)
    credit = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"snapshot {self.record_id} of {self.document_id}"


# --------------------------------------------------------------------------------------
# Productions: project stages, followers and calls to contribute.
# --------------------------------------------------------------------------------------


class ProjectStatus(models.TextChoices):
    """Where a project is in its life; it only moves forward."""

    OPEN = "open", "Open"
    IN_PRODUCTION = "in_production", "In production"
    FINISHED = "finished", "Finished"
    CELEBRATED = "celebrated", "Celebrated"


class ProjectStage(models.Model):
    """A project's status with the date it entered each one."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="stage")
    status = models.CharField(
        max_length=20, choices=ProjectStatus.choices, default=ProjectStatus.OPEN
    )
    template = models.CharField(max_length=40, blank=True)
    opened_at = models.DateTimeField()
    in_production_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    celebrated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.project_id}: {self.status}"


class ProjectFollow(models.Model):
    """A user following a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="follows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="follow_once")]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.project_id}"


class Interest(models.TextChoices):
    """The skill a call asks for."""

    WRITING = "writing", "Writing"
    NARRATION = "narration", "Narration"
    ILLUSTRATION = "illustration", "Illustration"
    ANIMATION = "animation", "Animation"
    MUSIC = "music", "Music"
    EDITING = "editing", "Editing"


class Call(models.Model):
    """A call to contribute: a bite-sized prompt for one interest."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="calls")
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    interest = models.CharField(max_length=20, choices=Interest.choices)
    deadline = models.DateTimeField(null=True, blank=True)
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.project_id}: {self.title}"


class Preference(models.Model):
    """A user's own settings; created on first change."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    invisible = models.BooleanField(
        default=False, help_text="Present in project rooms without being listed."
    )

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"
