"""Forms of the source-text page, and the text field every form of the site uses. They only shape input; the
services decide."""

from __future__ import annotations

import unicodedata

from django import forms
from django.conf import settings


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value or "").strip()


class NFCCharField(forms.CharField):
    """A CharField whose value is NFC-normalised, so one Hangul syllable is one character."""

    def to_python(self, value):
        return nfc(super().to_python(value))


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
