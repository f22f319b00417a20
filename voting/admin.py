from __future__ import annotations

from django.contrib import admin

from voting.models import GenerationJob, Proposal, Round, Vote


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["novel", "number", "status", "deadline", "closed_at"]
    list_filter = ["status"]


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["keyword", "sentences", "round", "author", "created_at"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["round", "proposal", "user", "updated_at"]


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "novel", "status", "attempts", "error", "created_at"]
    list_filter = ["status"]
