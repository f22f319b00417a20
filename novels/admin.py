from __future__ import annotations

from django.contrib import admin

from novels.models import BannedWord, Novel, SourceText, SourceTextVote, Turn


@admin.register(Novel)
class NovelAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["title"]


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = ["novel", "position", "kind", "status", "author", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["text"]


@admin.register(SourceText)
class SourceTextAdmin(admin.ModelAdmin):
    list_display = ["title", "author_credit", "status", "char_count", "proposed_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "author_credit"]
    exclude = ["text"]


admin.site.register(SourceTextVote)
admin.site.register(BannedWord)
