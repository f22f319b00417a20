"""Several hosts, one site: two web hosts in network namespaces behind nginx, a model switch, a host lost.

bench/hosts.py --quick builds them on this machine (its own PostgreSQL and Redis on a data host, a training
host, nginx at the edge) and reports what it saw; the drill's full run, with 1,000 clients, a partitioned host
and one joining, stays in bench/ (bench/results/hosts.txt).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from bench import hosts

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASE_URL, reason="several hosts are the scaled profile's; its run takes this test"
    ),
    pytest.mark.skipif(bool(hosts.missing()), reason=f"cannot build hosts here: {hosts.missing()}"),
]


@pytest.fixture(scope="module")
def drill(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("hosts") / "hosts.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "hosts.py"), "--quick", "--quiet", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_each_web_host_fetches_the_active_model_before_its_worker_takes_jobs(drill):
    for host in ("a", "b"):  # trained on the training host: neither web host had a file of it
        assert " fetched to " in drill["first_fetch"][host]


def test_a_new_model_reaches_every_process_of_both_hosts_within_ten_seconds(drill):
    switch = drill["model_switch"]

    assert sorted(switch["seconds_after_activation"]) == ["a/daphne-8001", "a/worker", "b/daphne-8001", "b/worker"]
    assert switch["slowest_s"] <= 10
    for host in ("a", "b"):
        assert f"{switch['version']} fetched to" in switch["fetched"][host]


def test_a_lost_hosts_ai_turn_is_written_once_by_the_other_host(drill):
    lost = drill["host_lost"]

    assert lost["job_when_lost"]["worker"] == "a-worker" and lost["job_when_lost"]["status"] == "running"
    assert lost["job"]["status"] == "done" and lost["job"]["worker"] == "b-worker"
    assert lost["job"]["turns_of_job"] == 1
    assert lost["job"]["ai_turns"] == lost["job_when_lost"]["ai_turns"] + 1


def test_no_accepted_vote_is_lost_and_every_reader_shows_the_databases_tally(drill):
    lost = drill["host_lost"]

    assert lost["votes_accepted_in_all"] > 0
    assert lost["accepted_missing"] == 0
    assert lost["database_votes_in_all"] == lost["votes_accepted_in_all"]
    assert lost["users_counted_twice"] == 0
    assert lost["readers_differing"] == 0


def test_readers_of_the_lost_host_come_back_through_nginx(drill):
    lost = drill["host_lost"]

    assert lost["readers_reconnected"] >= 1
    assert lost["reconnect_p99_s"] < lost["since_loss_s"]
