from django.contrib import admin

from .models import Graph, GraphVersion, Run, RunEvent


@admin.register(Graph)
class GraphAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "latest_version", "updated_at")


@admin.register(GraphVersion)
class GraphVersionAdmin(admin.ModelAdmin):
    list_display = ("graph", "number", "created_by", "created_at")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "graph", "status", "cost_usd", "created_at")
    list_filter = ("status",)


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "event", "node_id", "created_at")
