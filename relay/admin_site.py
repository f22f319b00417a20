"""Django's admin, with its log-in limited as the site's is (per address and per account)."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.http import HttpRequest, HttpResponse

from relay.common.api import login_wait


class AdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's log-in, unless this address or account has tried too often: then its form again, with 429."""
        if request.method != "POST":
            return super().login(request, extra_context)
        wait = login_wait(request)
        if wait is None:
            return super().login(request, extra_context)
        minutes = max(1, math.ceil(wait / 60))
        refused = f"로그인 시도가 너무 많습니다. {minutes}분 뒤에 다시 해 보세요."
        request.method = "GET"  # the form is shown again, the password not tried
        response = super().login(request, {**(extra_context or {}), "refused": refused})
        response.status_code = 429
        response["Retry-After"] = str(math.ceil(wait))
        return response


class AdminConfig(DjangoAdminConfig):
    default_site = "relay.admin_site.AdminSite"
