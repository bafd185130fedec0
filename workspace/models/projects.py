"""Projects and their members: visibility and roles."""

from django.conf import settings
from django.db import models


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
