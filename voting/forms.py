"""Forms of the relay's pages: starting a novel, writing a passage, the voting panel. They draw the fields and
show what was refused; voting.actions reads a proposal and a vote, and the services decide."""

from __future__ import annotations

import uuid

from django import forms
from django.forms.utils import ErrorDict

from novels.forms import NFCCharField
from novels.models import Novel, SourceText
from novels.text_rules import KEYWORD_MAX_CHARS
from relay.common.errors import (
    BannedWordUsed,
    DomainError,
    InvalidField,
    InvalidKeyword,
    InvalidLength,
    InvalidStyle,
)


def new_submission_key() -> str:
    return uuid.uuid4().hex


class NovelForm(forms.Form):
    title = NFCCharField(label="제목", max_length=200)
    premise = NFCCharField(
        label="줄거리",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="어떤 이야기인지 한두 문장으로 (선택)",
    )
    first_passage = NFCCharField(
        label="첫 문단",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="이야기의 시작을 직접 써 주세요.",
    )
    continue_with_ai = forms.BooleanField(label="AI에게 바로 이어쓰기 부탁하기", required=False)
    # A new key each time the form is shown: sent twice (a double click, a retry), it makes one novel.
    # Required: a form sent without it (not from the page) could make a novel each time.
    submission = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        initial=new_submission_key,
        error_messages={"required": "이 양식을 다시 열어 주세요 (한 번만 보내는 표시가 없습니다)."},
    )


class PassageForm(forms.Form):
    text = NFCCharField(label="이어 쓸 문단", widget=forms.Textarea(attrs={"rows": 4}))
    continue_with_ai = forms.BooleanField(label="이어서 AI도 한 번 쓰게 하기", required=False)


class StyleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SourceText) -> str:
        return f"{obj.title} · {obj.author_credit}" if obj.author_credit else obj.title


# Which field a refusal of the proposal belongs under (others go above the fields).
REFUSED_FIELD = {
    InvalidKeyword: "keyword",
    BannedWordUsed: "keyword",
    InvalidLength: "sentences",
    InvalidStyle: "style",
}


class ProposalForm(forms.Form):
    """The page's proposal form. It validates nothing itself: voting.actions.proposal_fields reads a proposal for
    every door alike, and the service checks it. Given `refused` (what they refused), the form shows it under its
    field, with the values as filled in."""

    # The browser's limit leaves room for input that NFC shortens; the service counts the characters.
    keyword = NFCCharField(
        label="키워드", max_length=2 * KEYWORD_MAX_CHARS, widget=forms.TextInput(attrs={"placeholder": "예: 등대"})
    )
    sentences = forms.IntegerField(label="문장 수", min_value=1, initial=3)  # bounds per novel, see __init__
    style = StyleChoiceField(
        label="문체",
        queryset=SourceText.objects.none(),
        required=False,
        empty_label="기본 문체",
    )

    def __init__(self, *args, novel: Novel, refused: DomainError | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refused = refused
        self.fields["sentences"] = forms.IntegerField(
            label="문장 수",
            min_value=novel.min_sentences,
            max_value=novel.max_sentences,
            initial=min(max(3, novel.min_sentences), novel.max_sentences),
        )
        self.fields["style"].queryset = SourceText.objects.filter(status=SourceText.Status.APPROVED).order_by("title")

    def full_clean(self) -> None:
        """No second reading of the input: the errors are only what the action refused."""
        self._errors = ErrorDict()
        self.cleaned_data = {}
        error = self.refused
        if error is not None:
            field = error.field if isinstance(error, InvalidField) else REFUSED_FIELD.get(type(error))
            self.add_error(field if field in self.fields else None, error.message)
