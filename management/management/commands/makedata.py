from __future__ import annotations

import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from management.retraining import EXIT_BAD_ARGUMENTS, SIZES, TOLERANCE_BPC, Options, lower_priority, run_makedata


class Command(BaseCommand):
    help = (
        "Retrain the story model from approved passages and source texts and switch to it if it is not worse. "
        "Exit codes: 0 activated, 1 failed, 2 bad arguments, 3 another run holds the lock, "
        "4 nothing new to train on, 5 trained but kept the active model, "
        "6 too little held-out text to judge a new model (docs/makedata.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--initial", action="store_true", help="train from scratch instead of fine-tuning")
        parser.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop training after this long")
        parser.add_argument("--epochs", type=int, help="at most this many passes over the text")
        parser.add_argument("--max-steps", type=int, help="at most this many optimizer steps")
        parser.add_argument(
            "--lr", type=float, help="peak learning rate (engine default: 3e-3, 1e-3 for the large preset)"
        )
        parser.add_argument("--batch-size", type=int, help="rows read at once (engine default 16)")
        parser.add_argument("--seq-len", type=int, help="characters per backpropagation window (engine default 64)")
        parser.add_argument(
            "--threads", type=int, help="CPU threads for training (default: MAKEDATA_THREADS, or half the cores)"
        )
        parser.add_argument(
            "--nice",
            type=int,
            default=settings.MAKEDATA_NICE,
            help="lower this run's CPU priority by this much, so the site stays quick (default: MAKEDATA_NICE, 10)",
        )
        parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: ENGINE_DEVICE)")
        parser.add_argument("--size", choices=SIZES, help="model size when training from scratch (default: default)")
        parser.add_argument("--dry-run", action="store_true", help="report what would be trained on, change nothing")
        parser.add_argument("--force", action="store_true", help="retrain and activate even if nothing is new or worse")
        parser.add_argument("--tolerance", type=float, default=TOLERANCE_BPC, help="bits/char a new model may lose")
        parser.add_argument("--seed", type=int, default=1234)
        parser.add_argument(
            "--keep", type=int, help="versions whose files stay, the active one besides (default: MODEL_KEEP; 0: all)"
        )

    def handle(self, *args, **opts) -> None:
        options = Options(
            initial=opts["initial"],
            time_budget_s=opts["time_budget"],
            epochs=opts["epochs"],
            max_steps=opts["max_steps"],
            lr=opts["lr"],
            batch_size=opts["batch_size"],
            seq_len=opts["seq_len"],
            threads=opts["threads"],
            device=opts["device"],
            size=opts["size"],
            dry_run=opts["dry_run"],
            force=opts["force"],
            tolerance=opts["tolerance"],
            seed=opts["seed"],
            keep=opts["keep"],
        )
        on_terminal = sys.stderr.isatty()
        if threading.current_thread() is threading.main_thread():
            # cron and systemd stop a job with SIGTERM: unwind like Ctrl-C so the run cleans up after itself.
            signal.signal(signal.SIGTERM, _raise_interrupt)

        def say(line: str) -> None:
            stamp = "" if on_terminal else f"{timezone.localtime():%Y-%m-%d %H:%M:%S} makedata: "
            self.stdout.write(f"{stamp}{line}")
            self.stdout.flush()

        if opts["nice"] < 0:
            say("--nice는 0 이상이어야 합니다 (우선순위를 높일 수는 없습니다).")
            raise SystemExit(EXIT_BAD_ARGUMENTS)
        if not options.dry_run:
            niceness = lower_priority(opts["nice"])
            say(f"사이트가 느려지지 않도록 낮은 CPU 우선순위(nice {niceness})로 학습합니다.")
        try:
            outcome = run_makedata(options, say=say)
        except KeyboardInterrupt:
            say("중단되었습니다 (interrupted); 지금 모델은 그대로입니다.")
            raise SystemExit(1) from None
        say(f"[{outcome.status}] {outcome.message}")
        if outcome.exit_code:
            raise SystemExit(outcome.exit_code)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
