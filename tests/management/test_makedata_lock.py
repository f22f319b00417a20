"""Two makedata runs never overlap, on one host or several: the second finds the lock taken and exits with 3."""

from __future__ import annotations

import fcntl

import pytest
from django.core.management import call_command
from django.db import connection, connections

from management.models import ModelVersion, TrainingRun
from management.retraining import EXIT_LOCKED, LOCK_NAME, SITE_LOCK_KEY


def test_it_exits_3_while_another_run_holds_the_lock(model_dir, approved_novel, source_text, capsys):
    model_dir.mkdir(parents=True)
    with open(model_dir / LOCK_NAME, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SystemExit) as exit_info:
            call_command("makedata", "--nice", "0", "--size", "tiny", "--max-steps", "1")

    assert exit_info.value.code == EXIT_LOCKED
    assert "진행 중" in capsys.readouterr().out
    assert not TrainingRun.objects.exists() and not ModelVersion.objects.exists()
    assert sorted(p.name for p in model_dir.iterdir()) == [LOCK_NAME]


def test_a_dead_runs_lock_file_does_not_block_the_next_run(model_dir, approved_novel, source_text):
    from tests.management.conftest import makedata

    model_dir.mkdir(parents=True)
    (model_dir / LOCK_NAME).write_bytes(b"")  # the file stays; the kernel drops a dead process's lock

    assert makedata(max_steps=5).exit_code == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the site-wide lock is PostgreSQL's (SQLite: one host)")
def test_a_run_on_another_host_holds_the_site_and_this_one_exits_3(model_dir, approved_novel, source_text):
    from tests.management.conftest import makedata

    other_host = connections.create_connection("default")  # its own database session, as another host's run
    try:
        with other_host.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [SITE_LOCK_KEY])

        outcome = makedata(max_steps=5)

        assert outcome.exit_code == EXIT_LOCKED
        assert not ModelVersion.objects.exists()
    finally:
        other_host.close()  # its lock goes with its session

    assert makedata(max_steps=5).exit_code == 0
