"""``GET /metrics``: Prometheus text format for operators."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every metric of this process (scrape each process; see README)."""
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
