"""`manage.py makedata`: options, exit codes and plain log lines for cron."""

from __future__ import annotations

import re
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from management.retraining import EXIT_BAD_ARGUMENTS, EXIT_NOTHING_NEW
from tests.management.conftest import makedata


def test_a_dry_run_logs_plain_timestamped_lines_when_not_on_a_terminal(model_dir, approved_novel, source_text):
    out = StringIO()

    call_command("makedata", "--dry-run", stdout=out)  # exit code 0: returns normally

    lines = out.getvalue().splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d makedata: ", line) for line in lines)
    assert "처음부터 학습" in lines[-1] and "\r" not in out.getvalue()


def test_it_exits_4_when_there_is_nothing_to_train_on(model_dir, db):
    out = StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("makedata", "--nice", "0", stdout=out)

    assert exit_info.value.code == EXIT_NOTHING_NEW
    assert "[nothing_new]" in out.getvalue()


def test_it_exits_2_on_a_bad_option(model_dir, db):
    with pytest.raises(SystemExit) as exit_info:
        call_command("makedata", "--nice", "0", "--time-budget", "-5", stdout=StringIO())

    assert exit_info.value.code == EXIT_BAD_ARGUMENTS


def test_it_exits_2_when_asked_to_change_the_size_without_initial(model_dir, tiny_version, approved_novel, source_text):
    outcome = makedata(size="large")

    assert outcome.exit_code == EXIT_BAD_ARGUMENTS and "--initial" in outcome.message


def test_the_command_line_exits_2_on_an_unknown_size():
    result = subprocess.run(
        [sys.executable, "manage.py", "makedata", "--size", "huge"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == EXIT_BAD_ARGUMENTS
    assert "invalid choice: 'huge'" in result.stderr
