from __future__ import annotations

from django.urls import path

from novels import views

urlpatterns = [
    path("", views.home, name="home"),
    path("novels/new/", views.novel_new, name="novel-new"),
    path("novels/<int:novel_id>/", views.novel_detail, name="novel"),
    path("novels/<int:novel_id>/write/", views.turn_write, name="turn-write"),
    path("novels/<int:novel_id>/finish/", views.novel_finish, name="novel-finish"),
    path("novels/<int:novel_id>/book/", views.novel_book, name="novel-book"),
    path("novels/<int:novel_id>/book.<str:fmt>", views.novel_book_file, name="novel-book-file"),
    path("novels/<int:novel_id>/book/files/", views.novel_book_files, name="novel-book-files"),
    path("sources/", views.sources, name="sources"),
    path("sources/<int:source_id>/vote/", views.source_vote, name="source-vote"),
]
