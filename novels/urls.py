from __future__ import annotations

from django.urls import path

from novels import views

urlpatterns = [
    path("novels/<int:novel_id>/book/", views.novel_book, name="novel-book"),
    path("novels/<int:novel_id>/book.<str:fmt>", views.novel_book_file, name="novel-book-file"),
    path("novels/<int:novel_id>/book/files/", views.novel_book_files, name="novel-book-files"),
]
