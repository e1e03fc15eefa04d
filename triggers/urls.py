from django.urls import path

from . import inbound, views

urlpatterns = [
    path("hooks/t/<str:public_id>/", inbound.trigger_call, name="trigger-call"),
    path("graphs/<int:pk>/triggers/", views.graph_triggers, name="graph-triggers"),
    path("graphs/<int:pk>/triggers/<int:tid>/<str:action>/", views.trigger_action, name="trigger-action"),
    path("graphs/<int:pk>/schedules/", views.graph_schedules, name="graph-schedules"),
    path("graphs/<int:pk>/schedules/<int:sid>/<str:action>/", views.schedule_action, name="schedule-action"),
]
