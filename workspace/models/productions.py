"""Productions: project status, followers, calls to contribute and their responses."""

from django.conf import settings
from django.db import models

from workspace.models.documents import Document
from workspace.models.projects import Project
from workspace.models.records import Record, Snapshot


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
    # Marking a response used names the document it is used for; the document's next
    # snapshot cites the response's record and becomes ``used_in`` (records are immutable,
    # so no existing snapshot can cite it).
    used_for = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
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
