"""The founders' metrics of a project and of every project the caller sees (tag ``metrics``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from workspace import founder_metrics
from workspace.api.common import request_viewer, visible_project

router = Router()


@router.get("/projects/{project}/metrics", response=dict[str, Any], tags=["metrics"])
def project_metrics(request: HttpRequest, project: str) -> dict[str, Any]:
    """Contributors per ISO week, streaks, calls opened and filled, status, time to finish."""
    return founder_metrics.metrics([visible_project(request, project).pk])


@router.get("/metrics", response=dict[str, Any], tags=["metrics"])
def all_metrics(request: HttpRequest) -> dict[str, Any]:
    """The same over every project you can see."""
    user = request_viewer(request)
    return founder_metrics.metrics(
        founder_metrics.visible_projects(user.pk if user.is_authenticated else None)
    )
