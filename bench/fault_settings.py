"""Settings for bench/faults.py: the project's, with a short heartbeat timeout so an
abandoned generation job is taken up again within seconds instead of 30."""

from relay.settings import *  # noqa: F403

RELAY_JOB_STALE_SECONDS = 4
