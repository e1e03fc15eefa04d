from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("audit.api_urls")),
    path("api/", include("graphs.api.urls")),
    path("api/", include("triggers.api_urls")),
    path("audit/", include("audit.urls")),
    path("metrics", include("audit.metrics_urls")),
    path("", include("apitokens.urls")),
    path("workspaces/", include("workspaces.urls")),
    path("", include("graphs.views.urls")),
    path("", include("triggers.urls")),  # /hooks/t/<id>/ and the graph page's triggers panel
]
