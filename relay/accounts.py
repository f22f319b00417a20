"""Accounts: sign up, log in (with attempts limited). A person's own part in the novels is voting.views.contributions."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from relay.common.api import SignupThrottle, login_wait, throttled_wait


class SignupForm(UserCreationForm):
    """Django's sign-up form with Korean labels."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "아이디"
        self.fields["username"].help_text = "150자 이하의 글자, 숫자, @/./+/-/_"
        self.fields["password1"].label = "비밀번호"
        self.fields[
            "password1"
        ].help_text = "8자 이상. 아이디와 비슷하거나, 흔하거나, 숫자로만 된 비밀번호는 쓸 수 없습니다."
        self.fields["password2"].label = "비밀번호 확인"
        self.fields["password2"].help_text = "확인을 위해 같은 비밀번호를 한 번 더 입력해 주세요."


class LoginView(auth_views.LoginView):
    """Django's log-in page, with attempts limited per address and per account (relay.common.api), counted
    in the cache that all web processes share, so that passwords cannot be guessed in bulk."""

    template_name = "relay/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = login_wait(request)
        if wait is None:
            return super().post(request, *args, **kwargs)
        minutes = max(1, math.ceil(wait / 60))
        context = self.get_context_data(form=self.get_form())
        context["refused"] = f"로그인 시도가 너무 많습니다. {minutes}분 뒤에 다시 해 보세요."
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and log in at once."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        wait = throttled_wait(request, SignupThrottle())
        if wait is not None:
            minutes = max(1, math.ceil(wait / 60))
            refused = f"이 주소에서 너무 많은 계정이 만들어졌습니다. {minutes}분 뒤에 다시 해 보세요."
            context = {"form": SignupForm(), "next": next_url, "refused": refused}
            response = render(request, "relay/signup.html", context, status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:
            # The same name was taken between the form's check and the save (two sign-ups at once).
            form.add_error("username", "이미 있는 아이디입니다. 다른 아이디를 골라 주세요.")
            return render(request, "relay/signup.html", {"form": form, "next": next_url}, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"환영합니다, {user.get_username()}님!")
        return redirect(next_url or "home")
    return render(request, "relay/signup.html", {"form": form, "next": next_url})
