"""Votes cast at the same moment from many connections: exact tallies, one vote per user."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from voting.models import Vote
from voting.selectors import current_round, tally
from voting.services import novel_create, proposal_create, vote_cast, vote_cast_by_id, vote_withdraw


def _by_object(round_, user, proposal) -> None:
    vote_cast(round=round_, user=user, proposal=proposal)


def _by_id(round_, user, proposal) -> None:
    vote_cast_by_id(user=user, proposal_id=proposal.pk, round_id=round_.pk)


# Both ways in: the ORM path (HTML forms) and the one-statement path (socket and API).
@pytest.fixture(params=[_by_object, _by_id], ids=["vote_cast", "vote_cast_by_id"])
def cast(request):
    return request.param


def _voters(n: int) -> list:
    User = get_user_model()
    User.objects.bulk_create([User(username=f"voter{i:02d}") for i in range(n)])
    return list(User.objects.filter(username__startswith="voter").order_by("username"))


def _run_together(jobs: list) -> None:
    """Run the callables in threads that start at the same instant, each on its own connection."""
    barrier = threading.Barrier(len(jobs))

    def run(job) -> None:
        try:
            barrier.wait(timeout=30)
            job()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(run, job) for job in jobs]:
            future.result()


def _relay(editor, alice, bob):
    novel = novel_create(title="동시 투표", created_by=editor, first_passage="모두가 한꺼번에 투표했다.")
    round_ = current_round(novel)
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    lighthouse, _ = proposal_create(round=round_, author=bob, keyword="등대", sentences=2)
    return round_, sea, lighthouse


def _check_exact_tally(round_, sea, lighthouse, voters, cast) -> None:
    # Voter i votes for the sea; every odd voter then moves to the lighthouse;
    # every voter whose number divides by 5 then withdraws.
    def ballot(i, user):
        def run() -> None:
            cast(round_, user, sea)
            if i % 2:
                cast(round_, user, lighthouse)
            if i % 5 == 0:
                vote_withdraw(round=round_, user=user)

        return run

    _run_together([ballot(i, user) for i, user in enumerate(voters)])

    staying = [i for i in range(len(voters)) if i % 5]
    expected_sea = 1 + sum(1 for i in staying if i % 2 == 0)  # + alice, who proposed it
    expected_lighthouse = 1 + sum(1 for i in staying if i % 2)  # + bob
    assert tally(round_) == [
        {"proposal": sea.pk, "votes": expected_sea},
        {"proposal": lighthouse.pk, "votes": expected_lighthouse},
    ]
    assert Vote.objects.filter(round=round_).count() == len(staying) + 2


@pytest.mark.scaled
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_voters_give_an_exact_tally_on_postgresql(cast, editor, alice, bob):
    round_, sea, lighthouse = _relay(editor, alice, bob)
    _check_exact_tally(round_, sea, lighthouse, _voters(50), cast)


@pytest.mark.scaled
@pytest.mark.django_db(transaction=True)
def test_the_same_user_voting_from_two_connections_at_once_keeps_one_vote(cast, editor, alice, bob):
    round_, sea, lighthouse = _relay(editor, alice, bob)
    voters = _voters(20)
    jobs = []
    for user in voters:
        jobs.append(lambda user=user: cast(round_, user, sea))
        jobs.append(lambda user=user: cast(round_, user, lighthouse))
    _run_together(jobs)
    for user in voters:
        assert Vote.objects.filter(round=round_, user=user).count() == 1
    assert sum(row["votes"] for row in tally(round_)) == len(voters) + 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_voters_give_an_exact_tally_in_either_profile(cast, editor, alice, bob):
    round_, sea, lighthouse = _relay(editor, alice, bob)
    _check_exact_tally(round_, sea, lighthouse, _voters(12), cast)


@pytest.mark.scaled
@pytest.mark.django_db(transaction=True)
def test_a_close_racing_forty_votes_counts_every_accepted_vote_and_refuses_the_rest(
    cast, monkeypatch, editor, alice, bob
):
    from relay.common.errors import RoundClosed
    from voting import events
    from voting.services import round_close

    round_, sea, lighthouse = _relay(editor, alice, bob)
    voters = _voters(40)
    counted_at_close: list[int] = []
    monkeypatch.setattr(events, "round_closed", lambda round_, **kw: counted_at_close.append(kw["votes"]))
    accepted, refused = [], []

    def ballot(user):
        def run() -> None:
            try:
                cast(round_, user, sea)
            except RoundClosed:
                refused.append(user.pk)
            else:
                accepted.append(user.pk)

        return run

    jobs = [ballot(user) for user in voters]
    jobs.insert(20, lambda: round_close(round=round_, closed_by=editor))
    _run_together(jobs)

    stored = set(Vote.objects.filter(round=round_, proposal=sea).values_list("user_id", flat=True))
    assert stored == set(accepted) | {alice.pk}
    assert len(accepted) + len(refused) == len(voters)
    # The winner's count at the close is every vote it will ever have: none slipped in after.
    assert counted_at_close == [len(stored)]
