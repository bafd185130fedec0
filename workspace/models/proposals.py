"""Payment-split proposals: pools, lines, edits, comments, acceptances and notices."""

from django.conf import settings
from django.db import models

from workspace.models.projects import Project
from workspace.models.records import Record


class ProposalState(models.TextChoices):
    """Draft (leads only) -> published (comment window) -> final (frozen, hashed, paid)."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    FINAL = "final", "Final"


class Proposal(models.Model):
    """A payment-split proposal for a production (a record, usually a snapshot)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="proposals")
    production = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="proposals")
    title = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    revenue = models.DecimalField(max_digits=18, decimal_places=4)
    costs = models.DecimalField(max_digits=18, decimal_places=4)
    artists_share_bp = models.PositiveIntegerField(default=5_000)
    state = models.CharField(
        max_length=10, choices=ProposalState.choices, default=ProposalState.DRAFT
    )
    window_days = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    final_hash = models.CharField(max_length=80, blank=True)
    final_payload = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"proposal {self.pk} of {self.project_id} ({self.state})"


class ProposalPool(models.Model):
    """A separate pool of a proposal: a fixed amount (minor units) or a share of profit."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="pools")
    name = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    share_of_profit_bp = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "name"], name="pool_name_per_proposal")
        ]

    def __str__(self) -> str:
        return f"{self.name} of {self.proposal_id}"


class ProposalLine(models.Model):
    """A line: a contributor (a user, or a named person whose money is held) and a share."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="lines")
    key = models.CharField(max_length=32)
    contributor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="proposal_lines",
    )
    held_name = models.CharField(max_length=200, blank=True)
    records = models.ManyToManyField(Record, blank=True, related_name="proposal_lines")
    role = models.CharField(max_length=100, blank=True)
    pool = models.CharField(max_length=64, default="artists")
    share_bp = models.PositiveIntegerField()
    reasoning = models.TextField(blank=True)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "key"], name="line_key_per_proposal")
        ]

    def __str__(self) -> str:
        return f"line {self.key} of {self.proposal_id}"


class ProposalEdit(models.Model):
    """One logged change of a proposal: who, what, when, and the JSON before and after."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="edits")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20)
    line_key = models.CharField(max_length=32, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.line_key} on {self.proposal_id} by {self.actor_id}"


class ProposalComment(models.Model):
    """A comment on a line (threaded by ``parent``); ``by_lead`` marks the team's answers."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="comments")
    line = models.ForeignKey(
        ProposalLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="comments"
    )
    line_key = models.CharField(max_length=32, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    by_lead = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.proposal_id}"


class ProposalAcceptance(models.Model):
    """A contributor accepting the proposal as it was: bound to its hash at that moment."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    proposal_hash = models.CharField(max_length=80)
    accepted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "user"], name="accept_proposal_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepts {self.proposal_id} at {self.proposal_hash[:19]}"


class ProposalNotice(models.Model):
    """Who was told about a proposal event, and why (kept even with an inbox service)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=40)
    reason = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.event} to {self.user_id} on {self.proposal_id}"
