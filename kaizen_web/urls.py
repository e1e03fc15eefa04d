from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("audit.api_urls")),
    path("api/", include("graphs.api.urls")),
    path("audit/", include("audit.urls")),
    path("metrics", include("audit.metrics_urls")),
    path("workspaces/", include("workspaces.urls")),
    path("", include("graphs.views.urls")),
]
