"""CPU and memory of running processes, read from /proc (Linux; psutil is not a dependency)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU of the whole PostgreSQL server: live processes plus the backends that already exited
    (their time is added to the postmaster's cutime/cstime when it reaps them)."""
    pids = pids_named("postgres")
    total = sum(c for c in (cpu_seconds(p) for p in pids) if c is not None)
    members = set(pids)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[1]) not in members:  # the postmaster: its parent is no postgres
            total += (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return total


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) in KiB; empty if the process is gone."""
    result: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    result[name] = int(value.split()[0])
    except OSError:
        pass
    return result


def pids_named(name: str) -> list[int]:
    """Processes whose command (comm) is exactly `name`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@dataclass
class Usage:
    cpu_percent: float
    rss_mb: float
    peak_mb: float


class CpuMeter:
    """CPU share (percent of one core) and memory of named groups of processes between two readings."""

    def __init__(self) -> None:
        self.groups: dict[str, list[int]] = {}
        self.start: dict[str, float] = {}
        self.started_at = time.monotonic()

    def watch(self, name: str, pids: list[int]) -> None:
        self.groups[name] = list(pids)

    def watch_postgres(self, name: str = "postgres*") -> None:
        """The whole PostgreSQL server, backends come and go included."""
        self.groups[name] = [-1]

    def _cpu(self, pids: list[int]) -> float:
        if pids == [-1]:
            return postgres_cpu_seconds()
        return sum(c for c in (cpu_seconds(p) for p in pids) if c is not None)

    def begin(self) -> None:
        self.started_at = time.monotonic()
        self.start = {name: self._cpu(pids) for name, pids in self.groups.items()}

    def end(self) -> dict[str, Usage]:
        elapsed = max(time.monotonic() - self.started_at, 1e-6)
        usage = {}
        for name, pids in self.groups.items():
            cpu = self._cpu(pids) - self.start.get(name, 0.0)
            memory = [memory_kb(p) for p in (pids_named("postgres") if pids == [-1] else pids)]
            usage[name] = Usage(
                cpu_percent=100.0 * cpu / elapsed,
                rss_mb=sum(m.get("VmRSS", 0) for m in memory) / 1024,
                peak_mb=sum(m.get("VmHWM", 0) for m in memory) / 1024,
            )
        return usage
