"""Forms of the voting panel. They only shape input; the services decide."""

from __future__ import annotations

from django import forms

from novels.forms import NFCCharField
from novels.models import Novel, SourceText


class StyleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SourceText) -> str:
        return f"{obj.title} · {obj.author_credit}" if obj.author_credit else obj.title


class ProposalForm(forms.Form):
    keyword = NFCCharField(label="키워드", max_length=60, widget=forms.TextInput(attrs={"placeholder": "예: 등대"}))
    sentences = forms.IntegerField(label="문장 수", min_value=1, initial=3)  # bounds per novel, see __init__
    style = StyleChoiceField(
        label="문체",
        queryset=SourceText.objects.none(),
        required=False,
        empty_label="기본 문체",
    )

    def __init__(self, *args, novel: Novel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sentences"] = forms.IntegerField(
            label="문장 수",
            min_value=novel.min_sentences,
            max_value=novel.max_sentences,
            initial=min(max(3, novel.min_sentences), novel.max_sentences),
        )
        self.fields["style"].queryset = SourceText.objects.filter(status=SourceText.Status.APPROVED).order_by("title")
