"""What people are shown about a version: figures in words, what it learned from what, before and after."""

from __future__ import annotations

import math

from django.urls import reverse
from django.utils.html import escape

from engine.train import unigram_bpc
from management.models import ModelVersion
from management.report import PROMPTS, choices
from tests.management.conftest import add_passages, makedata, paragraphs


def test_a_figure_reads_as_how_many_letters_the_model_hesitates_between():
    assert choices(3.46) == 11 and choices(0.0) == 1 and choices(None) is None and choices(math.nan) is None


def test_letter_frequencies_alone_score_what_counting_says():
    # "가" twice, "나" once in training; alphabet of 3 symbols -> p(가) = 3/6, p(나) = 2/6.
    assert unigram_bpc(["가가나"], ["가나"], alphabet=3) == (-math.log2(3 / 6) - math.log2(2 / 6)) / 2


def test_a_version_stores_its_reference_points_its_sources_and_the_fixed_prompts(
    model_dir, approved_novel, source_text
):
    first = makedata().version
    add_passages(approved_novel, paragraphs("01_harbor_town.txt")[12:24])
    second = makedata().version

    for version in (first, second):
        report = version.report
        assert report["model_bpc"] == round(version.val_bpc, 4) and report["heldout_chars"] > 0
        # The reference points: a random guess is worst, letter frequencies beat it.
        assert report["random_bpc"] == round(math.log2(version.vocab_size), 4)
        assert report["unigram_bpc"] < report["random_bpc"]
        styles = {entry["style"]: entry for entry in report["by_source"]}
        assert set(styles) == {f"novel-{approved_novel.pk}", source_text.style_name}
        assert styles[source_text.style_name]["title"] == "원문 「날고 싶은 오리」"
        assert styles[f"novel-{approved_novel.pk}"]["title"] == "소설 「등대가 보이는 마을」"
        assert math.isclose(sum(entry["share"] for entry in report["by_source"]), 1.0, abs_tol=1e-3)
        assert all(entry["bpc"] > 0 and entry["heldout_chars"] > 0 for entry in report["by_source"])
        # Every version continues the same prompts with the same keywords.
        assert [(s["story"], s["keyword"]) for s in version.samples] == list(PROMPTS)
        assert all(s["text"].startswith(s["keyword"]) for s in version.samples)
    assert first.report["previous_bpc"] is None
    assert second.report["previous_bpc"] == round(second.parent_val_bpc, 4)
    assert all(entry["previous_bpc"] is not None for entry in second.report["by_source"])


def test_the_pages_say_it_in_words_and_compare_two_versions(client, model_dir, approved_novel, source_text):
    first = makedata().version
    add_passages(approved_novel, paragraphs("01_harbor_town.txt")[12:24])
    second = makedata(force=True).version
    ModelVersion.objects.filter(pk=second.pk).update(is_active=True)
    ModelVersion.objects.exclude(pk=second.pk).update(is_active=False)

    page = client.get(reverse("models")).content.decode()
    assert f"글자 {choices(second.report['model_bpc'])}개</strong> 가운데 하나를 고르는 만큼 헷갈립니다" in page
    assert f"아무렇게나 찍으면: 글자 {choices(second.report['random_bpc']):,}개" in page
    assert "원문 「날고 싶은 오리」" in page and "무엇에서 얼마나 배웠나" in page

    compare = client.get(reverse("model-compare")).content.decode()  # the newest and the one before
    for sample in (*first.samples, *second.samples):
        assert f'data-side="{"a" if sample in first.samples else "b"}">{escape(sample["text"])}</td>' in compare
    assert f"?a={first.pk}&amp;b={second.pk}" not in compare  # already shown: no step to itself
    assert client.get(reverse("model-compare"), {"a": "x", "b": "999"}).status_code == 200

    sources = client.get(reverse("sources")).content.decode()
    entry = next(e for e in second.report["by_source"] if e["style"] == source_text.style_name)
    assert (
        f"AI가 이 원문을 얼마나 배웠나: 처음 보는 부분에서 다음 글자를 맞힐 때 글자 {choices(entry['bpc'])}개"
        in sources
    )

    api = client.get(f"/api/models/{second.pk}/").json()
    assert api["report"] == second.report and api["samples"] == second.samples


def test_the_page_words_show_a_dash_for_a_missing_figure():
    from management.templatetags.model_words import choices as words
    from management.templatetags.model_words import choices_nats, percent

    assert [words(""), words(None), words("x"), choices_nats(""), percent(None)] == ["–"] * 5
    assert words(3.46) == "11" and choices_nats(math.log(5)) == "5" and percent(0.2345) == "23.4"
