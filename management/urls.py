from __future__ import annotations

from django.urls import path

from management import views

urlpatterns = [
    path("models/", views.model_page, name="models"),
    path("models/<int:version_id>/rollback/", views.model_rollback, name="model-rollback"),
    path("models/runs/<int:run_id>/", views.run_page, name="training-run"),
    path("models/runs/start/", views.run_start, name="training-run-start"),
    path("models/runs/<int:run_id>/stop/", views.run_stop, name="training-run-stop"),
    path("models/compare/", views.model_compare, name="model-compare"),
    path("models/judge/", views.judge_page, name="model-judge"),
    path("models/judge/<int:round_id>/vote/", views.judge_vote, name="model-judge-vote"),
    # What the AI learns from: the source texts people propose and vote for.
    path("sources/", views.sources, name="sources"),
    path("sources/<int:source_id>/vote/", views.source_vote, name="source-vote"),
]
