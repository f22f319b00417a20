"""Rounds, proposals, votes and generation jobs for staff; closing a round goes through the service."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from novels.admin import StaffReviews, run_each
from voting import services
from voting.models import CandidateVote, GenerationJob, Proposal, Round, Vote


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
