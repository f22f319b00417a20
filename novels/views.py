from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from novels.models import Novel


def home(request: HttpRequest) -> HttpResponse:
    """Every novel with its status and number of turns."""
    novels = Novel.objects.annotate(turn_count=Count("turns"))
    return render(request, "novels/home.html", {"novels": novels})
