"""The review queue and the relay for staff: approve, edit-then-approve, reject with a reason, revert the last
turn; rounds, proposals, votes and generation jobs (closing a round). Every action calls a voting service;
nothing is saved here directly."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils.text import Truncator

from novels.admin import StaffReviews, run_each, with_reason
from novels.models import Novel, Turn
from relay.common.errors import DomainError
from voting import services
from voting.models import CandidateVote, GenerationJob, Proposal, Round, Vote


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


@admin.register(Round)
class RoundAdmin(StaffReviews, admin.ModelAdmin):
    list_display = ["novel", "number", "status", "deadline", "winner", "extensions", "closed_by", "closed_at"]
    list_filter = ["status"]
    readonly_fields = ["failure_reason"]
    actions = ["close_rounds"]

    @admin.action(description="지금 마감 (제안이 없으면 연장)")
    def close_rounds(self, request: HttpRequest, queryset) -> None:
        run_each(
            self,
            request,
            queryset,
            lambda round_: services.round_close(round=round_, closed_by=request.user),
            "{count}개의 라운드를 마감(또는 연장)했습니다.",
        )


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["keyword", "sentences", "style", "round", "author", "created_at"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["round", "proposal", "user", "updated_at"]


@admin.register(CandidateVote)
class CandidateVoteAdmin(admin.ModelAdmin):
    list_display = ["round", "index", "user", "updated_at"]


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "novel", "status", "keyword", "sentences", "attempts", "worker", "error", "created_at"]
    list_filter = ["status"]
