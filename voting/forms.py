"""Forms of the voting panel. They draw the fields and show what was refused; voting.actions reads the
input and the services decide."""

from __future__ import annotations

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
