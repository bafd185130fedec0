"""URL map of the HTTP side; websocket routes live in ``realtime.routing``."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from realtime.views import metrics_view
from workspace import exports, pages, site, views
from workspace.api import api as records_api
from workspace.auth import ThrottledAuthenticationForm
from workspace.proposal_page import proposal_page

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", views.home, name="home"),
    path("projects/", site.projects_page, name="projects"),
    path("projects/new", site.project_new, name="project-new"),
    path("calls/", site.calls_page, name="calls"),
    path("calls/interests", site.calls_interests, name="calls-interests"),
    path("inbox/", site.inbox_page, name="inbox"),
    path("inbox/read-all", site.inbox_read_all, name="inbox-read-all"),
    path("inbox/<int:notification_id>/read", site.inbox_read, name="inbox-read"),
    path("p/<slug:project>/", pages.project_room, name="project-room"),
    path("p/<slug:project>/d/<slug:document>", pages.project_room, name="project-document"),
    path("p/<slug:project>/proposals/<int:proposal_id>", proposal_page, name="proposal-page"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "api/projects/<slug:project>/documents/<slug:document>/content",
        views.document_content,
        name="document-content",
    ),
    path(
        "api/projects/<slug:project>/documents/<slug:document>/export",
        exports.document_export,
        name="document-export",
    ),
    path("records/<str:rid>", exports.record_page, name="record-page"),
    path(
        "api/projects/<slug:project>/documents/<slug:document>/update",
        views.document_update,
        name="document-update",
    ),
    path(
        "api/projects/<slug:project>/members/<str:username>",
        views.project_member,
        name="project-member",
    ),
    path("api/", records_api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
