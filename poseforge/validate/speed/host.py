"""Was the host quiet while we measured? Other processes' CPU time and the load average.

Speed ratios measured in one interleaved run survive a load that comes and goes, but a host busy
with other work throughout still bends them (two cores shared with a compiler are not two cores).
`HostWatch` records the load average at each round and the CPU time other processes (and, in a
VM, the hypervisor's steal) took from the machine during the run: the host counts as loaded when
that exceeds LOADED_SHARE of its CPU time. The load average alone cannot say it, since the
measurement's own threads put it near the core count. A load that drifts through a round is
cancelled by measuring rounds in alternating order (round_order).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
LOADED_SHARE = 0.10  # of the machine's CPU time taken by others: enough to bend a ratio by several percent


def _busy_seconds() -> float | None:
    """CPU seconds all cores have been busy since boot (steal included), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


class HostWatch:
    """Started before a measurement; `sample()` after each round; `result(cores)` at the end."""

    def __init__(self) -> None:
        self.samples: list[list[float]] = []
        self._start = (time.monotonic(), _busy_seconds(), _own_seconds())
        self.sample()

    def sample(self) -> None:
        if (load := load_average()) is not None:
            self.samples.append(load)

    def result(self, cores: int) -> dict[str, Any]:
        self.sample()
        wall = time.monotonic() - self._start[0]
        busy, start_busy = _busy_seconds(), self._start[1]
        share = None
        if busy is not None and start_busy is not None and wall > 0:
            others = (busy - start_busy) - (_own_seconds() - self._start[2])
            share = round(min(1.0, max(0.0, others / (wall * cores))), 4)
        # Without /proc/stat: the load average, allowing for the measurement's own threads.
        loaded = share > LOADED_SHARE if share is not None else any(s[0] > cores + 1 for s in self.samples)
        return {"load_average": self.samples, "other_cpu_share": share, "loaded": loaded}


def host_warning(host: dict[str, Any], cores: int | None) -> str | None:
    """One line for a report when the host was loaded during a measurement, else None."""
    if not host["loaded"]:
        return None
    peak = max((s[0] for s in host["load_average"]), default=None)
    share = host["other_cpu_share"]
    taken = f"other processes took {share:.0%} of its CPU time" if share is not None else "it was busy"
    return (f"the host was loaded while this was measured: {taken} (1-min load average up to {peak} on {cores} "
            "cores); its speed figures are less certain than a quiet host's")  # fmt: skip


def round_order(items: Sequence[T], number: int) -> list[T]:
    """The order of round `number` (from 1): forward in odd rounds, backward in even ones (A B, B A),
    so that a load drifting through a round cancels out of the ratios instead of always weighing on
    the run measured last."""
    return list(items) if number % 2 else list(reversed(items))
