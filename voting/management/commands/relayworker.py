from __future__ import annotations

import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from voting.generation.worker import default_worker_name, load_ahead, run_worker


class Command(BaseCommand):
    help = "Run generation jobs and the round timers (the scaled profile's worker process)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="close overdue rounds, run queued jobs, then exit")
        parser.add_argument("--name", default="", help="worker name recorded on its jobs (default: host-pid)")
        parser.add_argument("--poll", type=float, default=0.25, help="seconds between looks for new jobs")
        parser.add_argument(
            "--nice",
            type=int,
            default=settings.RELAY_WORKER_NICE,
            help="lower this process's CPU priority by this much (default RELAY_WORKER_NICE)",
        )

    def handle(self, *args, once: bool, name: str, poll: float, nice: int, **options) -> None:
        worker = name or default_worker_name()
        if nice > 0:
            # Where the worker shares cores with the web processes, a generation
            # must not hold up votes and tallies: it runs when they leave the CPU
            # free (bench/load.py: tally p99 at 50 votes/s 770 -> 410-500 ms).
            os.nice(nice)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        if not once:
            load_ahead()  # before it says it runs: its first job must not wait for torch and the model
        self.stdout.write(f"relay worker {worker}: {'one pass' if once else 'running'}")
        self.stdout.flush()
        ran = run_worker(worker=worker, stop=stop, poll_s=poll, once=once)
        self.stdout.write(f"relay worker {worker}: {ran} job(s) run")
