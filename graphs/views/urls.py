from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.graph_list, name="graph-list"),
    path("graphs/<int:pk>/", pages.graph_detail, name="graph-detail"),
    path("graphs/<int:pk>/run/", pages.graph_run, name="graph-run"),
    path("graphs/<int:pk>/publish/", pages.graph_publish, name="graph-publish"),
    path("runs/", pages.run_list, name="run-list"),
    path("runs/<int:pk>/", pages.run_detail, name="run-detail"),
    path("runs/<int:pk>/nodes/<path:node_id>/", pages.run_node, name="run-node"),  # nested ids: each/0/worker
    path("runs/<int:pk>/<str:action>/", pages.run_action, name="run-action"),
]

from . import editor  # noqa: E402  (the browser editor)

urlpatterns += [
    path("graphs/new/", editor.graph_new, name="graph-new"),
    path("graphs/<int:pk>/edit/", editor.graph_edit, name="graph-edit"),
    path("graphs/check/", editor.graph_check, name="graph-check"),
]

from . import memory as memory_pages  # noqa: E402  (conversation memory, issue 3)
from . import templates as pattern_templates  # noqa: E402  ("New from template", issue 3)

urlpatterns.append(path("templates/<slug:slug>/new/", pattern_templates.template_new, name="template-new"))
urlpatterns.append(path("memory/", memory_pages.memory_list, name="memory-list"))
