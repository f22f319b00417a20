from __future__ import annotations

import unicodedata

import pytest

from novels.models import SourceText
from novels.selectors import approved_sources
from novels.services import source_text_propose, source_text_review, source_text_unvote, source_text_vote
from relay.common.errors import (
    AlreadyReviewed,
    Duplicate,
    FileTooLarge,
    InvalidAction,
    InvalidFile,
    NotAuthenticated,
    PermissionDenied,
)

STORY = "옛날 옛적에 바닷가 마을에 할머니가 살았다.\n할머니는 날마다 등대를 닦았다."


def test_it_takes_a_pasted_text_with_title_and_credit(alice):
    source = source_text_propose(title="등대 할머니", author_credit="김작가", text=STORY, proposed_by=alice)
    assert (source.title, source.author_credit, source.text, source.status) == (
        "등대 할머니",
        "김작가",
        STORY,
        "proposed",
    )
    assert source.char_count == len(STORY) and source.proposed_by == alice


def test_it_decodes_an_uploaded_file_in_utf8_or_cp949(alice):
    utf8 = source_text_propose(title="하나", data=STORY.encode("utf-8"), filename="one.txt", proposed_by=alice)
    cp949 = source_text_propose(
        title="둘", data=(STORY + " 끝.").encode("cp949"), filename="two.txt", proposed_by=alice
    )
    assert utf8.text == STORY and cp949.text == STORY + " 끝."


def test_it_stores_decomposed_hangul_as_nfc(alice):
    source = source_text_propose(title="자모", text=unicodedata.normalize("NFD", STORY), proposed_by=alice)
    assert source.text == STORY


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.txt", "binary"),
        (b"", "empty.txt", "빈 파일"),
        (b"  \n\t ", "blank.txt", "빈 파일"),
        ("잘못된".encode("utf-16"), "utf16.txt", "CP949"),
        (STORY.encode("utf-8"), "story.pdf", ".txt"),
    ],
)
def test_it_refuses_a_file_that_is_not_readable_text_with_a_clear_message(alice, data, filename, words):
    with pytest.raises(InvalidFile) as caught:
        source_text_propose(title="나쁜 파일", data=data, filename=filename, proposed_by=alice)
    assert caught.value.code == "invalid_file" and words in caught.value.message
    assert not SourceText.objects.exists()


def test_it_refuses_a_file_over_the_size_limit(alice, settings):
    settings.SOURCE_TEXT_MAX_BYTES = 64
    with pytest.raises(FileTooLarge) as caught:
        source_text_propose(title="큰 파일", data=("가" * 30).encode("utf-8"), filename="big.txt", proposed_by=alice)
    assert caught.value.status == 413
    with pytest.raises(FileTooLarge):
        source_text_propose(title="큰 글", text="가" * 30, proposed_by=alice)


def test_it_refuses_the_same_text_twice(alice, bob):
    source_text_propose(title="하나", text=STORY, proposed_by=alice)
    with pytest.raises(Duplicate):
        source_text_propose(title="둘", data=STORY.encode(), filename="copy.txt", proposed_by=bob)


def test_it_refuses_anonymous_proposals(db):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotAuthenticated):
        source_text_propose(title="익명", text=STORY, proposed_by=AnonymousUser())


def test_it_counts_one_vote_per_user_and_takes_votes_back(alice, bob, charlie):
    source = source_text_propose(title="하나", text=STORY, proposed_by=alice)
    assert source_text_vote(source=source, user=bob) == 1
    assert source_text_vote(source=source, user=bob) == 1
    assert source_text_vote(source=source, user=charlie) == 2
    assert source_text_unvote(source=source, user=bob) == 1


def test_it_approves_a_source_as_training_data_and_style(alice, editor):
    source = source_text_propose(title="하나", text=STORY, proposed_by=alice)
    reviewed = source_text_review(source=source, reviewer=editor, action="approve", note="좋은 글")
    assert (reviewed.status, reviewed.reviewed_by, reviewed.review_note) == ("approved", editor, "좋은 글")
    assert list(approved_sources()) == [source]
    assert reviewed.style_name == f"source-{source.pk}"
    with pytest.raises(AlreadyReviewed):
        source_text_vote(source=reviewed, user=alice)


def test_it_lets_only_staff_review_a_source(alice, editor):
    source = source_text_propose(title="하나", text=STORY, proposed_by=alice)
    with pytest.raises(PermissionDenied):
        source_text_review(source=source, reviewer=alice, action="approve")
    rejected = source_text_review(source=source, reviewer=editor, action="reject", note="저작권")
    assert rejected.status == "rejected" and list(approved_sources()) == []
    with pytest.raises(InvalidAction):
        source_text_review(source=source, reviewer=editor, action="delete")
