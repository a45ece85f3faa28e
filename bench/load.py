"""CPU accounting around each scenario: how busy the machine was, and how much of it was not the bench."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

try:
    import psutil
except ImportError:  # optional: without it the report simply has no load figures
    psutil = None


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU seconds at one instant: the whole machine's busy time and the bench's own share."""

    at: float
    machine_busy_s: float
    bench_s: float
    steal_s: float = 0.0
    """Time the hypervisor gave this VM's CPUs to other guests: busy for the machine, run by nobody here."""


def _process_seconds(pid: int, with_reaped_children: bool) -> float:
    """CPU seconds of one process and its live descendants (plus reaped children, when asked)."""
    assert psutil is not None
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system
        if with_reaped_children:
            total += times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except psutil.Error:
                pass
        return float(total)
    except psutil.Error:
        return 0.0


def snapshot(server_pids: Sequence[int | None]) -> CpuSnapshot | None:
    """Take a snapshot counting this process and the given server processes as the bench's own."""
    if psutil is None:
        return None
    machine = psutil.cpu_times()
    busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
    steal = float(getattr(machine, "steal", 0.0))
    own = psutil.Process(os.getpid()).cpu_times()
    bench = own.user + own.system
    # Servers' exited children (Postgres backends that closed) are accounted to them once reaped.
    bench += sum(_process_seconds(pid, with_reaped_children=True) for pid in server_pids if pid)
    return CpuSnapshot(at=time.monotonic(), machine_busy_s=float(busy), bench_s=float(bench), steal_s=steal)


def usage(before: CpuSnapshot | None, after: CpuSnapshot | None) -> dict[str, float]:
    """Return the bench's and other processes' CPU use between two snapshots, in % of one CPU."""
    if before is None or after is None or after.at <= before.at:
        return {}
    elapsed = after.at - before.at
    bench = (after.bench_s - before.bench_s) / elapsed * 100
    machine = (after.machine_busy_s - before.machine_busy_s) / elapsed * 100
    steal = (after.steal_s - before.steal_s) / elapsed * 100
    return {
        "bench_cpu_pct": round(bench, 1),
        "others_cpu_pct": round(max(0.0, machine - bench), 1),
        "steal_cpu_pct": round(steal, 1),
    }
