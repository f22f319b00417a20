from __future__ import annotations

from django.urls import path

from voting import views

urlpatterns = [
    path("novels/<int:novel_id>/propose/", views.propose, name="round-propose"),
    path("novels/<int:novel_id>/vote/", views.vote, name="round-vote"),
    path("novels/<int:novel_id>/withdraw/", views.withdraw, name="round-withdraw"),
    path("novels/<int:novel_id>/candidate/", views.candidate, name="round-candidate"),
    path("novels/<int:novel_id>/close/", views.close, name="round-close"),
]
