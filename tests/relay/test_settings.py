from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from relay.settings import channel_layers_from_url, database_from_url

ROOT = Path(__file__).resolve().parents[2]


def test_it_uses_sqlite_under_var_without_database_url(tmp_path):
    config = database_from_url("", tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == tmp_path / "relay.sqlite3"


def test_it_parses_a_postgres_database_url(tmp_path):
    config = database_from_url("postgres://relay:secret@db.internal:5433/relaydb", tmp_path)
    assert config["ENGINE"] == "relay.postgresql"  # Django's, with a cheaper health check
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == ("db.internal", 5433, "relaydb", "relay")


def test_a_sqlite_database_url_keeps_djangos_sqlite_backend(tmp_path):
    config = database_from_url(f"sqlite:///{tmp_path}/other.sqlite3", tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"


def test_it_uses_the_in_memory_layer_without_redis_url():
    layers = channel_layers_from_url("")
    assert layers["default"]["BACKEND"] == "relay.transport.layers.FanOutInMemoryChannelLayer"


def test_it_uses_channels_redis_with_redis_url():
    layers = channel_layers_from_url("redis://cache.internal:6380/2")
    assert layers["default"]["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert layers["default"]["CONFIG"]["hosts"][0]["address"] == "redis://cache.internal:6380/2"


def test_the_novel_socket_asks_channels_for_no_layer_in_either_profile():
    from channels.layers import get_channel_layer

    from relay.live.consumers import NO_CHANNEL_LAYER, HubListener

    assert HubListener.channel_layer_alias == NO_CHANNEL_LAYER
    for url in ("", "redis://cache.internal:6380/2"):
        assert NO_CHANNEL_LAYER not in channel_layers_from_url(url)
    assert get_channel_layer(NO_CHANNEL_LAYER) is None


def run_check(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "HTTPS"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_it_refuses_to_start_with_debug_off_and_no_secret_key():
    proc = run_check({"DEBUG": "0"})
    assert proc.returncode != 0
    assert "SECRET_KEY must be set" in proc.stderr


def test_production_settings_pass_check_deploy_without_warnings():
    proc = run_check(
        {
            "DEBUG": "0",
            "SECRET_KEY": "k" * 20 + "-a-long-random-production-key-0123456789",
            "HTTPS": "1",
            "ALLOWED_HOSTS": "relay.example",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert proc.returncode == 0, proc.stderr
    assert "no issues" in proc.stdout


def test_it_keeps_the_cache_in_redis_when_redis_url_is_given():
    from relay.settings import caches_from_url

    assert caches_from_url("")["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    redis_cache = caches_from_url("redis://cache.internal:6380/2")["default"]
    assert redis_cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis_cache["LOCATION"] == "redis://cache.internal:6380/2"


def test_postgresql_connections_are_kept_for_reuse_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)
    kept = database_from_url("postgres://relay@db:5432/relay", Path("/tmp"))
    monkeypatch.setenv("DB_CONN_MAX_AGE", "0")
    fresh = database_from_url("postgres://relay@db:5432/relay", Path("/tmp"))

    assert (kept["CONN_MAX_AGE"], kept["CONN_HEALTH_CHECKS"]) == (60, True)
    assert fresh["CONN_MAX_AGE"] == 0


def test_a_story_memory_weight_out_of_range_is_refused_with_one_line():
    proc = run_check({"ENGINE_STORY_MEMORY": "1.5"})
    assert proc.returncode != 0
    assert "ENGINE_STORY_MEMORY must be at least 0 and below 1, not 1.5" in proc.stderr


def test_an_adaptation_rate_that_is_not_a_number_is_refused_with_one_line():
    proc = run_check({"ENGINE_STORY_ADAPT": "fast"})
    assert proc.returncode != 0
    assert "ENGINE_STORY_ADAPT must be a number, not 'fast'" in proc.stderr


def test_a_number_of_candidates_out_of_range_is_refused_with_one_line():
    proc = run_check({"ENGINE_CANDIDATES": "0"})
    assert proc.returncode != 0
    assert "ENGINE_CANDIDATES must be between 1 and 16, not 0" in proc.stderr
