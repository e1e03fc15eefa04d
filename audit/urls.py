from django.urls import path

from . import views, views_hooks

app_name = "audit"
urlpatterns = [
    path("", views.entry_list, name="list"),
    path("<int:pk>/", views.entry_detail, name="detail"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("export.jsonl", views.export_jsonl, name="export-jsonl"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("graphs/<int:graph_id>/hooks/", views_hooks.graph_hooks, name="graph-hooks"),
    path("graphs/<int:graph_id>/hooks/<int:hook_id>/<str:action>/", views_hooks.hook_action, name="hook-action"),
]
