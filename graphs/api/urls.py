from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import connection_views, credential_views, views
from .run_wait import waitable, waitable_start

urlpatterns = [
    path("graphs/", views.GraphListView.as_view(), name="api-graphs"),
    path("graphs/validate/", views.GraphValidateView.as_view(), name="api-graph-validate"),
    path("graphs/<int:pk>/", views.GraphDetailView.as_view(), name="api-graph"),
    path("graphs/<int:pk>/versions/", views.GraphVersionsView.as_view(), name="api-graph-versions"),
    path("graphs/<int:pk>/versions/<int:number>/", views.GraphVersionDetailView.as_view(), name="api-graph-version"),
    path("graphs/<int:pk>/versions/<int:number>/restore/", views.GraphRestoreView.as_view(), name="api-graph-restore"),
    path("graphs/<int:pk>/versions/<int:number>/publish/", views.GraphPublishView.as_view(), name="api-graph-publish"),
    path("graphs/<int:pk>/unpublish/", views.GraphPublishView.as_view(), name="api-graph-unpublish"),
    path("graphs/<int:pk>/runs/", waitable_start(views.GraphRunsView.as_view(), views.run_body_for), name="api-graph-runs"),  # POST ?wait=SECONDS
    path("runs/", views.RunListView.as_view(), name="api-runs"),
    path("runs/<int:pk>/", waitable(views.RunDetailView.as_view()), name="api-run"),  # ?wait=SECONDS
    path("runs/<int:pk>/events/", views.RunEventsView.as_view(), name="api-run-events"),
    path("runs/<int:pk>/events/<int:seq>/", views.RunEventDetailView.as_view(), name="api-run-event"),
    path("runs/<int:pk>/cancel/", views.RunCancelView.as_view(), name="api-run-cancel"),
    path("runs/<int:pk>/resume/", views.RunResumeView.as_view(), name="api-run-resume"),
    path("runs/<int:pk>/answer/", views.RunAnswerView.as_view(), name="api-run-answer"),
    path("runs/<int:pk>/rerun/", views.RunForkView.as_view(edits=False), name="api-run-rerun"),
    path("runs/<int:pk>/fork/", views.RunForkView.as_view(), name="api-run-fork"),
    path("connections/", connection_views.ConnectionListView.as_view(), name="api-connections"),
    path("connections/<int:pk>/", connection_views.ConnectionDetailView.as_view(), name="api-connection"),
    path("credentials/", credential_views.CredentialListView.as_view(), name="api-credentials"),
    path("credentials/<str:name>/", credential_views.CredentialDetailView.as_view(), name="api-credential"),
    path("schema/graph/", views.GraphSchemaView.as_view(), name="api-graph-schema"),
    path("node-kinds/", views.NodeKindsView.as_view(), name="api-node-kinds"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),  # script in a file: CSP-safe
]

from . import mcp_views, memory_views, template_views  # noqa: E402  (pattern templates and memory, issue 3)

urlpatterns += [
    path("templates/", template_views.TemplateListView.as_view(), name="api-templates"),
    path("templates/<slug:slug>/instantiate/", template_views.TemplateInstantiateView.as_view(), name="api-template-instantiate"),
    path("memory/", memory_views.MemorySessionsView.as_view(), name="api-memory"),
    path("mcp-servers/", mcp_views.McpServerListView.as_view(), name="api-mcp-servers"),
    path("mcp-servers/<str:name>/", mcp_views.McpServerDetailView.as_view(), name="api-mcp-server"),
    path("mcp-servers/<str:name>/tools/", mcp_views.McpServerToolsView.as_view(), name="api-mcp-server-tools"),
]
