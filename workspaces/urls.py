from django.urls import path

from . import views, views_connections

urlpatterns = [
    path("", views.workspace_list, name="workspace-list"),
    path("switch/", views.switch, name="workspace-switch"),
    path("<int:pk>/connections/", views_connections.connections, name="workspace-connections"),
    path("<int:pk>/members/", views.members, name="workspace-members"),
    path("<int:pk>/members/<int:member_id>/<str:action>/", views.member_action, name="workspace-member-action"),
]
