from __future__ import annotations

from django.urls import path

from management import views

urlpatterns = [
    path("", views.model_page, name="models"),
    path("<int:version_id>/rollback/", views.model_rollback, name="model-rollback"),
    path("runs/<int:run_id>/", views.run_page, name="training-run"),
    path("compare/", views.model_compare, name="model-compare"),
    path("judge/", views.judge_page, name="model-judge"),
    path("judge/<int:round_id>/vote/", views.judge_vote, name="model-judge-vote"),
]
