"""A user's notifications, muted projects and own settings (interests, invisibility)."""

from django.conf import settings
from django.db import models

from workspace.models.projects import Project


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
