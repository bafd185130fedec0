"""Productions: project templates, status, descriptions, followers and calls to contribute."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from workspace.models import (
    Call,
    DocumentKind,
    Interest,
    Project,
    ProjectFollow,
    ProjectStage,
    ProjectStatus,
    Visibility,
)
from workspace.services import document_create, project_create

STATUS_ORDER = [
    ProjectStatus.OPEN,
    ProjectStatus.IN_PRODUCTION,
    ProjectStatus.FINISHED,
    ProjectStatus.CELEBRATED,
]
_STATUS_DATE = {
    ProjectStatus.IN_PRODUCTION: "in_production_at",
    ProjectStatus.FINISHED: "finished_at",
    ProjectStatus.CELEBRATED: "celebrated_at",
}


@dataclass(frozen=True, slots=True)
class CallSpec:
    """A call a template opens."""

    title: str
    interest: Interest
    instructions: str


@dataclass(frozen=True, slots=True)
class Template:
    """What a new project starts with: documents (slug, title, kind) and calls."""

    name: str
    documents: tuple[tuple[str, str, DocumentKind], ...]
    calls: tuple[CallSpec, ...]


TEMPLATES: dict[str, Template] = {
    "blank": Template("Blank", (), ()),
    "life-narrated": Template(
        "Life Narrated",
        (
            ("script", "Script", DocumentKind.SCRIPT),
            ("storyboard", "Storyboard", DocumentKind.STORYBOARD),
        ),
        (
            CallSpec(
                "Write the story",
                Interest.WRITING,
                "A true moment from a life in 80-150 words: one scene, told aloud, "
                "30 to 60 seconds. Write it in the script.",
            ),
            CallSpec(
                "Narrate the story",
                Interest.NARRATION,
                "Record the script read aloud, 30 to 60 seconds, in a quiet room. "
                "Upload it as an audio record citing the script snapshot you read.",
            ),
            CallSpec(
                "Illustrate the panels",
                Interest.ILLUSTRATION,
                "Draw one or more storyboard panels; upload each as an image record "
                "citing the script snapshot it illustrates.",
            ),
            CallSpec(
                "Animate the illustrations",
                Interest.ANIMATION,
                "Bring the illustrations to life with simple motion (no lip sync). "
                "Upload a video record citing the illustrations you used.",
            ),
        ),
    ),
}


class ProductionRefused(Exception):
    """A production change that is not allowed; the message says why."""


def project_create_from_template(
    *,
    slug: str,
    title: str,
    created_by: User,
    template: str = "blank",
    visibility: Visibility = Visibility.PRIVATE,
    logline: str = "",
    description: str = "",
) -> Project:
    """Start a project from a template: its documents, its calls, status open."""
    spec = TEMPLATES.get(template)
    if spec is None:
        raise ProductionRefused(f"template must be one of {sorted(TEMPLATES)}")
    if Project.objects.filter(slug=slug).exists():
        raise ProductionRefused("that project slug is taken")
    with transaction.atomic():
        project = project_create(
            slug=slug, title=title, created_by=created_by, visibility=visibility
        )
        if logline or description:
            project.logline = logline
            project.description = description
            project.save(update_fields=["logline", "description"])
        ProjectStage.objects.create(project=project, template=template, opened_at=timezone.now())
        for doc_slug, doc_title, kind in spec.documents:
            document_create(project=project, slug=doc_slug, title=doc_title, kind=kind)
        Call.objects.bulk_create(
            [
                Call(
                    project=project,
                    title=c.title,
                    interest=c.interest,
                    instructions=c.instructions,
                )
                for c in spec.calls
            ]
        )
    return project


def project_stage(project: Project) -> ProjectStage:
    """The project's stage row (created as ``open`` for projects made before stages)."""
    stage, _ = ProjectStage.objects.get_or_create(
        project=project, defaults={"opened_at": project.created_at}
    )
    return stage


def project_advance(*, project: Project, status: ProjectStatus) -> ProjectStage:
    """Move the project to the next status (forward only, one step), dated now."""
    with transaction.atomic():
        project_stage(project)
        stage = ProjectStage.objects.select_for_update().get(project=project)
        current = STATUS_ORDER.index(ProjectStatus(stage.status))
        wanted = STATUS_ORDER.index(status)
        if wanted != current + 1:
            raise ProductionRefused(
                f"a project {stage.status} can only move to "
                f"{STATUS_ORDER[current + 1] if current + 1 < len(STATUS_ORDER) else 'nothing'}"
            )
        stage.status = status
        setattr(stage, _STATUS_DATE[status], timezone.now())
        stage.save()
    return stage


def project_edit(
    *,
    project: Project,
    title: str | None = None,
    logline: str | None = None,
    description: str | None = None,
    visibility: Visibility | None = None,
) -> Project:
    """Change the project's title, logline, description or visibility."""
    changed = []
    for name, value in (
        ("title", title),
        ("logline", logline),
        ("description", description),
        ("visibility", visibility),
    ):
        if value is not None:
            setattr(project, name, value)
            changed.append(name)
    if changed:
        project.full_clean(exclude=["created_by", "slug"])
        project.save(update_fields=changed)
    return project


def project_follow(*, project: Project, user: User, follow: bool) -> bool:
    """Follow or unfollow; returns whether the user now follows."""
    if follow:
        ProjectFollow.objects.get_or_create(project=project, user=user)
    else:
        ProjectFollow.objects.filter(project=project, user=user).delete()
    return follow


def call_create(
    *, project: Project, title: str, interest: Interest, instructions: str = ""
) -> Call:
    """Open a call to contribute."""
    return Call.objects.create(
        project=project, title=title, interest=interest, instructions=instructions
    )


def call_edit(
    *,
    call: Call,
    title: str | None = None,
    instructions: str | None = None,
    is_open: bool | None = None,
) -> Call:
    """Change a call's wording or open/close it."""
    if title is not None:
        call.title = title
    if instructions is not None:
        call.instructions = instructions
    if is_open is not None:
        call.is_open = is_open
    call.save()
    return call
