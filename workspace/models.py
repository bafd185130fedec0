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
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    filled_at = models.DateTimeField(null=True, blank=True)

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
    interests = models.JSONField(
        default=list, blank=True, help_text="Interests (skills) whose new calls notify you."
    )

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


# --------------------------------------------------------------------------------------
# Rooms: call responses, notifications, mutes and live sessions.
# --------------------------------------------------------------------------------------


class ResponseStatus(models.TextChoices):
    """Where a response to a call stands; leads move it."""

    SUBMITTED = "submitted", "Submitted"
    CONSIDERED = "considered", "Considered"
    USED = "used", "Used"
    REPLACED = "replaced", "Replaced"


class CallResponse(models.Model):
    """A contributor's answer to a call: a record that cites the call."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="responses")
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="call_responses")
    responder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=ResponseStatus.choices, default=ResponseStatus.SUBMITTED
    )
    used_in = models.ForeignKey(
        Snapshot, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["call", "record"], name="answer_call_once_per_record")
        ]

    def __str__(self) -> str:
        return f"{self.record_id} answers {self.call_id}: {self.status}"


class CallResponseChange(models.Model):
    """One status change of a response: who, when, from, to."""

    response = models.ForeignKey(CallResponse, on_delete=models.CASCADE, related_name="history")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)

    def __str__(self) -> str:
        return f"{self.response_id}: {self.from_status} -> {self.to_status}"


class Notification(models.Model):
    """One inbox entry; a burst on one object is one entry with a count."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=40)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=100)
    reason = models.TextField()
    group_key = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "read_at"], name="notifications_unread"),
            models.Index(fields=["user", "group_key"], name="notifications_group"),
        ]

    def __str__(self) -> str:
        return f"{self.event} for {self.user_id} x{self.count}"


class ProjectMute(models.Model):
    """A user muting a project's notifications."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="mute_once")]

    def __str__(self) -> str:
        return f"{self.user_id} mutes {self.project_id}"


class LiveSession(models.Model):
    """A live working session a lead runs in the project room."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="live_sessions")
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    title = models.CharField(max_length=200)
    agenda = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    spotlight = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(ended_at__isnull=True),
                name="one_live_session_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.project_id}"


class SessionParticipant(models.Model):
    """Someone who joined a live session."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="join_session_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in session {self.session_id}"


# --------------------------------------------------------------------------------------
# Payment-split proposals: lines, pools, comments, edit log, acceptances.
# --------------------------------------------------------------------------------------


class ProposalState(models.TextChoices):
    """Draft (leads only) -> published (comment window) -> final (frozen, hashed, paid)."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    FINAL = "final", "Final"


class Proposal(models.Model):
    """A payment-split proposal for a production (a record, usually a snapshot)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="proposals")
    production = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="proposals")
    title = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    revenue = models.DecimalField(max_digits=18, decimal_places=4)
    costs = models.DecimalField(max_digits=18, decimal_places=4)
    artists_share_bp = models.PositiveIntegerField(default=5_000)
    state = models.CharField(
        max_length=10, choices=ProposalState.choices, default=ProposalState.DRAFT
    )
    window_days = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    final_hash = models.CharField(max_length=80, blank=True)
    final_payload = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"proposal {self.pk} of {self.project_id} ({self.state})"


class ProposalPool(models.Model):
    """A separate pool of a proposal: a fixed amount (minor units) or a share of profit."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="pools")
    name = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    share_of_profit_bp = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "name"], name="pool_name_per_proposal")
        ]

    def __str__(self) -> str:
        return f"{self.name} of {self.proposal_id}"


class ProposalLine(models.Model):
    """A line: a contributor (a user, or a named person whose money is held) and a share."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="lines")
    key = models.CharField(max_length=32)
    contributor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposal_lines",
    )
    held_name = models.CharField(max_length=200, blank=True)
    records = models.ManyToManyField(Record, blank=True, related_name="proposal_lines")
    role = models.CharField(max_length=100, blank=True)
    pool = models.CharField(max_length=64, default="artists")
    share_bp = models.PositiveIntegerField()
    reasoning = models.TextField(blank=True)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "key"], name="line_key_per_proposal")
        ]

    def __str__(self) -> str:
        return f"line {self.key} of {self.proposal_id}"


class ProposalEdit(models.Model):
    """One logged change of a proposal: who, what, when, and the JSON before and after."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="edits")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20)
    line_key = models.CharField(max_length=32, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.line_key} on {self.proposal_id} by {self.actor_id}"


class ProposalComment(models.Model):
    """A comment on a line (threaded by ``parent``); ``by_lead`` marks the team's answers."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="comments")
    line = models.ForeignKey(
        ProposalLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="comments"
    )
    line_key = models.CharField(max_length=32, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    by_lead = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.proposal_id}"


class ProposalAcceptance(models.Model):
    """A contributor accepting the proposal as it was: bound to its hash at that moment."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    proposal_hash = models.CharField(max_length=80)
    accepted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "user"], name="accept_proposal_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepts {self.proposal_id} at {self.proposal_hash[:19]}"


class ProposalNotice(models.Model):
    """Who was told about a proposal event, and why (kept even with an inbox service)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=40)
    reason = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.event} to {self.user_id} on {self.proposal_id}"
