"""What the founders measure: consistent contribution and finished projects, not views."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from workspace.models import Call, DocumentUpdate, Project, ProjectStage, ProjectStatus, Record


def iso_week(moment: datetime) -> str:
    """``2026-W07``."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def _streak(mondays: set[date]) -> int:
    """The longest run of consecutive active weeks."""
    best = run = 0
    previous: date | None = None
    for monday in sorted(mondays):
        run = run + 1 if previous is not None and monday - previous == timedelta(weeks=1) else 1
        best = max(best, run)
        previous = monday
    return best


def metrics(projects: list[int]) -> dict[str, Any]:
    """Metrics over the given projects."""
    activity: dict[int, set[date]] = defaultdict(set)
    weekly: dict[str, set[int]] = defaultdict(set)
    edits = DocumentUpdate.objects.filter(
        document__project_id__in=projects, user_id__isnull=False
    ).values_list("user_id", "created_at")
    records = Record.objects.filter(project_id__in=projects).values_list(
        "created_by_id", "created_at"
    )
    for user_id, moment in [*edits, *records]:
        activity[user_id].add(_monday(moment))
        weekly[iso_week(moment)].add(user_id)
    names = dict(
        get_user_model().objects.filter(pk__in=list(activity)).values_list("pk", "username")
    )
    calls = Call.objects.filter(project_id__in=projects).aggregate(
        opened=Count("pk"), filled=Count("pk", filter=Q(filled_at__isnull=False))
    )
    stages = ProjectStage.objects.filter(project_id__in=projects)
    by_status = {s.value: 0 for s in ProjectStatus}
    by_status[ProjectStatus.OPEN.value] += len(projects) - stages.count()
    for row in stages.values("status").annotate(n=Count("pk")):
        by_status[row["status"]] += row["n"]
    durations = [
        (s.finished_at - s.opened_at).total_seconds()
        for s in stages.filter(finished_at__isnull=False)
        if s.finished_at is not None
    ]
    return {
        "contributors_per_week": {week: len(ids) for week, ids in sorted(weekly.items())},
        "contributors": sorted(
            (
                {
                    "username": names.get(user_id, str(user_id)),
                    "active_weeks": len(weeks),
                    "streak_weeks": _streak(weeks),
                }
                for user_id, weeks in activity.items()
            ),
            key=lambda c: (-c["streak_weeks"], c["username"]),
        ),
        "calls": {"opened": calls["opened"], "filled": calls["filled"]},
        "projects_by_status": by_status,
        "median_days_to_finish": round(median(durations) / 86400, 3) if durations else None,
    }


def visible_projects(user_id: int | None) -> list[int]:
    """Public projects and those the user belongs to."""
    allowed = Q(visibility="public")
    if user_id is not None:
        allowed |= Q(memberships__user_id=user_id)
    return list(Project.objects.filter(allowed).values_list("pk", flat=True).distinct())
