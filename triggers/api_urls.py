from django.urls import path

from . import api

urlpatterns = [
    path("graphs/<int:pk>/triggers/", api.TriggerListView.as_view(), name="api-graph-triggers"),
    path("graphs/<int:pk>/triggers/<int:tid>/", api.TriggerDetailView.as_view(), name="api-graph-trigger"),
    path("graphs/<int:pk>/triggers/<int:tid>/regenerate/", api.TriggerRegenerateView.as_view(), name="api-graph-trigger-regenerate"),
    path("graphs/<int:pk>/schedules/", api.ScheduleListView.as_view(), name="api-graph-schedules"),
    path("graphs/<int:pk>/schedules/<int:sid>/", api.ScheduleDetailView.as_view(), name="api-graph-schedule"),
]
