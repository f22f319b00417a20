"""Forms of the novel and source-text pages. They only shape input; the services decide."""

from __future__ import annotations

import unicodedata
import uuid

from django import forms
from django.conf import settings


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value or "").strip()


class NFCCharField(forms.CharField):
    """A CharField whose value is NFC-normalised, so one Hangul syllable is one character."""

    def to_python(self, value):
        return nfc(super().to_python(value))


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


class SourceTextForm(forms.Form):
    title = NFCCharField(label="제목", max_length=200)
    author_credit = NFCCharField(label="지은이", max_length=200, required=False, help_text="원작자 이름과 출처")
    file = forms.FileField(
        label=".txt 파일 올리기", required=False, widget=forms.ClearableFileInput(attrs={"accept": ".txt,text/plain"})
    )
    text = NFCCharField(
        label="또는 본문 붙여넣기", required=False, widget=forms.Textarea(attrs={"rows": 6}), strip=True
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload and upload.size > settings.SOURCE_TEXT_MAX_BYTES:
            limit_mb = settings.SOURCE_TEXT_MAX_BYTES / (1024 * 1024)
            raise forms.ValidationError(f"파일이 너무 큽니다 (최대 {limit_mb:.0f}MB).", code="file_too_large")
        return upload

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("file") and not cleaned.get("text"):
            raise forms.ValidationError("파일을 올리거나 본문을 붙여넣어 주세요.", code="required")
        return cleaned
