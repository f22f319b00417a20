"""Starting a `manage.py` command in a process of its own, on the database this process uses.

Long CPU work (training, building a book's PDF) never runs in a web process:
the original chatbot trained inside its server and froze it. The child is a
session of its own (a signal to the server does not reach it, and it outlives
the request) at a lower CPU priority, and writes its output to a log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The database this process uses (a test database under the tests), for a child to use the same one."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_command(
    args: Sequence[str],
    *,
    log_name: str,
    env: dict[str, str] | None = None,
    nice: int = 0,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen:
    """Start `manage.py <args>` detached, its output appended to VAR_DIR/<log_name>; the process."""
    child_env = {**os.environ, "DATABASE_URL": database_url(), **(env or {})}
    log_path = Path(settings.VAR_DIR) / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
            cwd=settings.BASE_DIR,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
