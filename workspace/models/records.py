"""Records: citable contributions, their works, authors, citations and frozen snapshots."""

from django.conf import settings
from django.db import models

from workspace.models.documents import Document
from workspace.models.projects import Project


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
