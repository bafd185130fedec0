"""Production rules: project templates, the status order and refusals."""

from __future__ import annotations

from dataclasses import dataclass

from workspace.models import (
    DocumentKind,
    Interest,
    ProjectStatus,
)

STATUS_ORDER = [
    ProjectStatus.OPEN,
    ProjectStatus.IN_PRODUCTION,
    ProjectStatus.FINISHED,
    ProjectStatus.CELEBRATED,
]
STATUS_DATE = {
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
    description: str
    documents: tuple[tuple[str, str, DocumentKind], ...]
    calls: tuple[CallSpec, ...]


TEMPLATES: dict[str, Template] = {
    "blank": Template("Blank", "An empty project: add documents and calls yourself.", (), ()),
    "life-narrated": Template(
        "Life Narrated",
        "A true moment from a life, told aloud in 30 to 60 seconds: a script and a "
        "storyboard, with calls for writing, narration, illustration and animation.",
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
    """A production change that is not allowed; the message says why.

    ``field`` names the input at fault when there is one (forms show the message there).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
