from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("relay.account_urls")),
    path("api/", include("relay.api_urls")),
    path("", include("management.urls")),
    path("", include("voting.urls")),
    path("", include("novels.urls")),
]
