"""Django app configuration for the workspace."""

from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The workspace app."""

    name = "workspace"
    default_auto_field = "django.db.models.BigAutoField"
