"""Forms of the browser pages: what a person may type, checked before a service runs."""

from typing import Any

from django import forms
from django.utils.text import slugify

from workspace.models import Interest, Visibility
from workspace.productions.rules import TEMPLATES

SLUG_MAX = 64


class ProjectCreateForm(forms.Form):
    """``/projects/new``: a project from a template; the address defaults to the title's slug."""

    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=SLUG_MAX,
        required=False,
        label="Address",
        help_text="Letters, digits, - and _, as in /p/your-address/. Left empty, it is made "
        "from the title.",
    )
    logline = forms.CharField(
        max_length=300,
        required=False,
        help_text="One sentence that says what the story is.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        initial=Visibility.PRIVATE,
        widget=forms.RadioSelect,
        help_text="Public projects can be read by everyone signed in; private ones by "
        "their members only.",
    )
    template = forms.ChoiceField(
        choices=[(key, spec.name) for key, spec in TEMPLATES.items()],
        initial="life-narrated",
        widget=forms.RadioSelect,
    )

    def clean(self) -> dict[str, Any]:
        """Make the address from the title when none was given."""
        data = super().clean() or {}
        if not data.get("slug") and data.get("title") and "slug" not in self.errors:
            made = slugify(data["title"])[:SLUG_MAX].strip("-_")
            if made:
                data["slug"] = made
            else:
                self.add_error(
                    "slug", "The title has no letters or digits to make an address from."
                )
        return data


class InterestsForm(forms.Form):
    """The interests whose new calls notify the user (any number, none included)."""

    interests = forms.MultipleChoiceField(
        choices=Interest.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Your interests",
    )
