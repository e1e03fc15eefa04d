from django.urls import path

from . import api

urlpatterns = [
    path("graphs/<int:pk>/hooks/", api.GraphHooksView.as_view(), name="api-graph-hooks"),
    path("graphs/<int:pk>/hooks/<int:hook_id>/", api.GraphHookDetailView.as_view(), name="api-graph-hook"),
    path("graphs/<int:pk>/hooks/<int:hook_id>/deliveries/", api.GraphHookDeliveriesView.as_view(),
         name="api-graph-hook-deliveries"),
    path("audit/entries/", api.AuditEntriesView.as_view(), name="api-audit-entries"),
]
