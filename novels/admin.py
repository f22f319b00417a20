"""The review queue: staff approve, edit-then-approve, reject with a reason, revert the last turn,
and approve or reject source texts. Every action calls a service; nothing is saved here directly."""

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
from novels.models import BannedWord, Novel, SourceText, SourceTextVote, Turn
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


@admin.register(Novel)
class NovelAdmin(StaffReviews, admin.ModelAdmin):
    list_display = ["title", "status", "turn_count", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["title"]
    actions = ["revert_last_turn"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(turn_total=Count("turns"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a novel is started on the site, where its first round opens with it

    def get_readonly_fields(self, request: HttpRequest, obj: Novel | None = None) -> list[str]:
        # Its rules and status change through the services (finishing, reverting), not by hand.
        return [field.name for field in Novel._meta.fields]

    @admin.display(description="이어쓰기 수", ordering="turn_total")
    def turn_count(self, obj: Novel) -> int:
        return obj.turn_total

    @admin.action(description="마지막 이어쓰기 되돌리기 (사유 입력)")
    def revert_last_turn(self, request: HttpRequest, queryset) -> HttpResponse | None:
        return with_reason(
            self,
            request,
            queryset,
            action="revert_last_turn",
            title="마지막 이어쓰기 되돌리기",
            do=lambda novel, note: services.turn_revert_last(novel=novel, reviewer=request.user, note=note),
            done="{count}개 소설의 마지막 이어쓰기를 되돌렸습니다.",
        )


class TurnReviewForm(forms.ModelForm):
    """The change form of a turn is its review: approve the text as edited here, or reject it."""

    decision = forms.ChoiceField(
        label="검토",
        choices=[("approve", "(고친 내용으로) 승인"), ("reject", "반려")],
        widget=forms.RadioSelect,
        initial="approve",
    )

    class Meta:
        model = Turn
        fields = ["text", "review_note"]
        labels = {"text": "본문", "review_note": "검토 메모 / 반려 사유"}


@admin.register(Turn)
class TurnAdmin(StaffReviews, admin.ModelAdmin):
    list_display = ["short_text", "novel", "position", "kind", "status", "author", "created_at"]
    list_display_links = ["short_text"]
    list_filter = ["status", "kind", "novel"]
    search_fields = ["text"]
    ordering = ["-created_at"]
    actions = ["approve_turns", "reject_turns"]
    form = TurnReviewForm
    readonly_fields = ["novel", "position", "kind", "author", "status", "original_text", "reviewed_by", "reviewed_at"]
    fields = [
        "novel",
        "position",
        "kind",
        "author",
        "status",
        "text",
        "original_text",
        "decision",
        "review_note",
        "reviewed_by",
        "reviewed_at",
    ]

    @admin.display(description="본문")
    def short_text(self, obj: Turn) -> str:
        return Truncator(obj.text).chars(60)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # turns are written on the novel page or by the AI

    def save_model(self, request: HttpRequest, obj: Turn, form: TurnReviewForm, change: bool) -> None:
        """Review through the service: the edited text is approved (the original kept), or rejected."""
        decision = form.cleaned_data["decision"]
        original = Turn.objects.get(pk=obj.pk)
        text = form.cleaned_data["text"] if decision == "approve" else None
        try:
            reviewed = services.turn_review(
                turn=original,
                reviewer=request.user,
                action=decision,
                text=text,
                note=form.cleaned_data.get("review_note", ""),
            )
        except DomainError as error:
            self.message_user(request, f"{error.message} ({error.code})", level=messages.ERROR)
            return
        # Keep the admin's later messages about the row in step with the service's write.
        obj.refresh_from_db()
        obj.status = reviewed.status

    def save_form(self, request: HttpRequest, form: TurnReviewForm, change: bool) -> Turn:
        return form.save(commit=False)

    @admin.action(description="승인")
    def approve_turns(self, request: HttpRequest, queryset) -> None:
        run_each(
            self,
            request,
            queryset.order_by("novel_id", "position"),
            lambda turn: services.turn_review(turn=turn, reviewer=request.user, action="approve"),
            "{count}개의 이어쓰기를 승인했습니다.",
        )

    @admin.action(description="반려 (사유 입력)")
    def reject_turns(self, request: HttpRequest, queryset) -> HttpResponse | None:
        return with_reason(
            self,
            request,
            queryset,
            action="reject_turns",
            title="이어쓰기 반려",
            do=lambda turn, note: services.turn_review(turn=turn, reviewer=request.user, action="reject", note=note),
            done="{count}개의 이어쓰기를 반려했습니다.",
        )


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
