from __future__ import annotations

from django.urls import path

from voting import views

urlpatterns = [
    path("", views.home, name="home"),
    path("novels/new/", views.novel_new, name="novel-new"),
    path("novels/<int:novel_id>/", views.novel_detail, name="novel"),
    path("novels/<int:novel_id>/write/", views.turn_write, name="turn-write"),
    path("novels/<int:novel_id>/finish/", views.novel_finish, name="novel-finish"),
    path("novels/<int:novel_id>/propose/", views.propose, name="round-propose"),
    path("novels/<int:novel_id>/vote/", views.vote, name="round-vote"),
    path("novels/<int:novel_id>/withdraw/", views.withdraw, name="round-withdraw"),
    path("novels/<int:novel_id>/candidate/", views.candidate, name="round-candidate"),
    path("novels/<int:novel_id>/close/", views.close, name="round-close"),
    path("novels/<int:novel_id>/cast/", views.cast_change, name="novel-cast"),
    path("novels/<int:novel_id>/cast/undo/", views.cast_undo, name="novel-cast-undo"),
]
