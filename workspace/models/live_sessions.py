"""Live working sessions in a project room and their participants."""

from django.conf import settings
from django.db import models

from workspace.models.projects import Project


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
