"""Source texts and banned words for staff: approve or reject a source text (with a reason). Every action calls a
service; nothing is saved here directly. Novels and their passages are reviewed in the relay's admin
(voting.admin), since a review lets the relay go on; the helpers every admin shares are here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.text import Truncator

from novels import services
from novels.models import BannedWord, SourceText, SourceTextVote
from relay.common.errors import DomainError


class StaffReviews:
    """Every staff member may review, as the services allow (they check is_staff); deleting still
    needs Django's model permission."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff


class ReasonForm(forms.Form):
    note = forms.CharField(label="사유", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)


def run_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    do: Callable[[Any], Any],
    done: str,
) -> None:
    """Call a service for each row; report how many went through and each refusal with its reason."""
    count = 0
    for row in rows:
        try:
            do(row)
            count += 1
        except DomainError as error:
            model_admin.message_user(request, f"{row}: {error.message} ({error.code})", level=messages.ERROR)
    if count:
        model_admin.message_user(request, done.format(count=count), level=messages.SUCCESS)


def with_reason(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset,
    *,
    action: str,
    title: str,
    do: Callable[[Any, str], Any],
    done: str,
) -> HttpResponse | None:
    """An action that first asks for a reason on an intermediate page."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        run_each(model_admin, request, queryset, lambda row: do(row, form.cleaned_data["note"]), done)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "action": action,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/review_reason.html", context)


@admin.register(SourceText)
class SourceTextAdmin(StaffReviews, admin.ModelAdmin):
    list_display = ["title", "author_credit", "status", "votes", "char_count", "proposed_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "author_credit"]
    exclude = ["text"]
    readonly_fields = ["char_count", "status", "text_hash", "proposed_by", "reviewed_by", "reviewed_at", "text_preview"]
    actions = ["approve_sources", "reject_sources"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(vote_total=Count("votes"))

    @admin.display(description="표", ordering="vote_total")
    def votes(self, obj: SourceText) -> int:
        return obj.vote_total

    @admin.display(description="앞부분")
    def text_preview(self, obj: SourceText) -> str:
        return Truncator(obj.text).chars(600)

    @admin.action(description="승인 (학습 원문으로)")
    def approve_sources(self, request: HttpRequest, queryset) -> None:
        run_each(
            self,
            request,
            queryset,
            lambda source: services.source_text_review(source=source, reviewer=request.user, action="approve"),
            "{count}개의 원문을 승인했습니다.",
        )

    @admin.action(description="반려 (사유 입력)")
    def reject_sources(self, request: HttpRequest, queryset) -> HttpResponse | None:
        return with_reason(
            self,
            request,
            queryset,
            action="reject_sources",
            title="원문 반려",
            do=lambda source, note: services.source_text_review(
                source=source, reviewer=request.user, action="reject", note=note
            ),
            done="{count}개의 원문을 반려했습니다.",
        )


admin.site.register(SourceTextVote)
admin.site.register(BannedWord)
