"""Say whether PostgreSQL (DATABASE_URL) and Redis (REDIS_URL) answer.

Exit 0 when both answer, 1 when one does not (naming it). Used by
`make test` (to run or skip the scaled profile) and `make run-scaled`.
"""

from __future__ import annotations

import os
import sys


def check_postgres(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any failure means "not usable", with its reason
        return f"PostgreSQL at {url} does not answer: {str(exc).strip().splitlines()[0]}"
    return None


def check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis at {url} does not answer: {exc}"
    return None


def main() -> int:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    problems = []
    if not database_url.startswith("postgres"):
        problems.append("DATABASE_URL is not a postgres:// URL")
    else:
        problems.append(check_postgres(database_url))
    problems.append(check_redis(redis_url) if redis_url else "REDIS_URL is not set")
    problems = [p for p in problems if p]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
