"""JSON API (django-ninja) for records, snapshots and productions; OpenAPI at /api/openapi.json.

Authentication is the session cookie or ``Authorization: Bearer <token>`` (set by the
middleware). Errors are ``{"error": ...}`` with 401 (signed out), 403 (role too low),
404 (missing, or invisible to the caller) and 400/409/413/415 for refused input. Unsafe
requests authenticated by the session cookie must carry the CSRF token.

One ninja ``Router`` per domain (``records``, ``productions``, ``notifications``,
``live_sessions``, ``founder_metrics``, ``proposals``), all mounted on the one ``api``
below; ``common`` holds what they share. ``scripts`` is the plain-Django document API
(raw update bytes, downloads) that ``config.urls`` routes beside it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.operation import Operation

from workspace.api import (
    founder_metrics,
    live_sessions,
    notifications,
    productions,
    proposals,
    records,
)
from workspace.api.common import ApiError
from workspace.productions.rules import ProductionRefused
from workspace.proposals.rules import ProposalRefused
from workspace.records.rules import RecordRefused

# The proposals router's views lived in ``workspace.proposals_api``, every other one in
# ``workspace.api``; their operation ids were derived from those modules.
_OPERATION_ID_PREFIX = {proposals.__name__: "workspace_proposals_api_"}


class TroupeApi(NinjaAPI):
    """The API whose operation ids stay what they were before it was split by domain."""

    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Operation ids are published in the OpenAPI schema and clients generate code
        # from them: keep them independent of the module a view lives in.
        view = operation.view_func
        return _OPERATION_ID_PREFIX.get(view.__module__, "workspace_api_") + view.__name__


api = TroupeApi(
    title="Troupe API",
    version="1",
    description="Records, snapshots, credit, citations and productions.",
    urls_namespace="troupe-api",
)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status)


@api.exception_handler(RecordRefused)
def _record_refused(request: HttpRequest, exc: RecordRefused) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status)


@api.exception_handler(ProductionRefused)
def _production_refused(request: HttpRequest, exc: ProductionRefused) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=400)


@api.exception_handler(ProposalRefused)
def _proposal_refused(request: HttpRequest, exc: ProposalRefused) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status)


# Mounted in the order the endpoints were declared before the split (proposals last), so
# URLs resolve and the schema lists them as before.
for domain in (records, productions, notifications, live_sessions, founder_metrics, proposals):
    api.add_router("", domain.router)
