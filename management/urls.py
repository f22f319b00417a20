from __future__ import annotations

from django.urls import path

from management import views

urlpatterns = [
    path("", views.model_page, name="models"),
    path("<int:version_id>/rollback/", views.model_rollback, name="model-rollback"),
    path("runs/<int:run_id>/", views.run_page, name="training-run"),
    path("runs/start/", views.run_start, name="training-run-start"),
    path("runs/<int:run_id>/stop/", views.run_stop, name="training-run-stop"),
    path("compare/", views.model_compare, name="model-compare"),
    path("judge/", views.judge_page, name="model-judge"),
    path("judge/<int:round_id>/vote/", views.judge_vote, name="model-judge-vote"),
]
