"""Several networks' speed measured in one run, interleaved, so that their ratios can be trusted.

Speed on a shared machine drifts as other work comes and goes, so absolute numbers are only
comparable within one run. Each round measures every network once, back to back
(`network_speed`: LATENCY hint median, THROUGHPUT hint fps), and rounds repeat the sequence,
backwards every other round (round_order).
A ratio is best taken within each round (both networks under the same conditions) and its
median over rounds; an absolute figure is each network's best round, the least disturbed one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poseforge.artifacts import REFERENCE
from poseforge.documents import same_figure
from poseforge.errors import PoseforgeError
from poseforge.runtime.options import ACCURACY
from poseforge.validate.speed.host import HostWatch, load_average, round_order
from poseforge.validate.speed.network import network_speed

MAX_STRETCH = 3.0  # a heavy network gets at most this many times the throughput seconds
MIN_ITERATIONS = 5


@dataclass
class Entry:
    key: str
    path: Path
    cost: float = 1.0  # relative compute: heavier networks get fewer latency runs, more throughput time
    precision_hint: str | None = "f32"
    shape: tuple[int, int, int, int] | None = None  # its own input shape (None: the run's)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def budget(self, iterations: int, seconds: float) -> tuple[int, float]:
        """Latency iterations and throughput seconds for this network, so that each measurement takes a
        similar time and a slow network still completes enough frames."""
        stretch = min(max(self.cost, 1.0), MAX_STRETCH)
        return max(MIN_ITERATIONS, round(iterations / max(self.cost, 1.0))), seconds * stretch

    def best(self) -> dict[str, Any]:
        """The least disturbed round: lowest median latency, highest throughput (each independently),
        and how far the rounds' median latencies spread (max / min - 1)."""
        if not self.runs:
            raise PoseforgeError(f"{self.key} has not been measured")
        fastest = min(self.runs, key=lambda r: r["latency_ms"]["median"])
        slowest = max(self.runs, key=lambda r: r["latency_ms"]["median"])
        return {
            "round_spread": slowest["latency_ms"]["median"] / fastest["latency_ms"]["median"] - 1,
            "latency_ms": fastest["latency_ms"]["median"],
            "latency_p90_ms": fastest["latency_ms"]["p90"],
            "fps": 1e3 / fastest["latency_ms"]["median"],
            "throughput_fps": max(r["throughput_fps"] for r in self.runs),
            "latency_settings": fastest["latency_settings"],
            "throughput_settings": self.runs[0]["throughput_settings"],
        }


def measure_interleaved(
    entries: list[Entry],
    shape: tuple[int, int, int, int],
    threads: int | None = None,
    iterations: int = 10,
    seconds: float = 3.0,
    rounds: int = 3,
    report: Callable[[str], None] | None = None,
    watch: HostWatch | None = None,
) -> dict[str, Any]:
    """Measure every entry `rounds` times, interleaved, at `shape` (or its own) with its precision hint.

    Fills each entry's `runs`; returns what the machine was doing around the measurement (the
    load average before and after; `watch`, if given, is sampled after each round).
    """
    if rounds < 1 or iterations < 1 or seconds <= 0:
        raise PoseforgeError("rounds, iterations and seconds must be positive")
    load_before = load_average()
    for number in range(1, rounds + 1):
        for entry in round_order(entries, number):
            its, secs = entry.budget(iterations, seconds)
            options = ACCURACY.replace(threads=threads, precision_hint=entry.precision_hint)
            run = network_speed(entry.path, entry.shape or shape, options, its, secs)
            entry.runs.append(run)
            if report:
                report(
                    f"round {number}/{rounds} {entry.key}: latency {run['latency_ms']['median']:.1f} ms "
                    f"({1e3 / run['latency_ms']['median']:.2f} fps), throughput {run['throughput_fps']:.2f} fps"
                )
        if watch is not None:
            watch.sample()
    return {"rounds": rounds, "load_average_before": load_before, "load_average_after": load_average()}


def round_ratios(slow: Entry, fast: Entry, metric: str = "fps") -> list[float]:
    """fast / slow speed in each round: how far the rounds agree."""
    ratios = []
    for a, b in zip(slow.runs, fast.runs, strict=True):
        if metric == "fps":
            ratios.append(a["latency_ms"]["median"] / b["latency_ms"]["median"])
        else:
            ratios.append(b["throughput_fps"] / a["throughput_fps"])
    return ratios


# Within-round throughput ratios: name -> (numerator run, denominator run).
THROUGHPUT_PAIRS = {
    "int8_over_fp32_throughput": ("ir-int8", REFERENCE),
    "int8_over_omz_throughput": ("ir-int8", "omz-int8"),
    "bf16_over_f32_throughput": ("ir-fp32.bf16", REFERENCE),
    "int8_over_bf16_throughput": ("ir-int8", "ir-fp32.bf16"),
}


def per_round(a: Iterable[float], b: Iterable[float]) -> list[float]:
    """a / b within each round: two runs' figures of the same rounds, round by round."""
    return [x / y for x, y in zip(a, b, strict=True)]


def ratios_by_round(speed: Mapping[str, Mapping[str, Any]], names: Iterable[str]) -> dict[str, list[float]]:
    """Each named THROUGHPUT_PAIRS ratio whose two runs are rows of `speed` (each holding its
    `throughput_fps_by_round`), in every round."""
    out = {}
    for name in names:
        a, b = THROUGHPUT_PAIRS[name]
        if a in speed and b in speed:
            out[name] = per_round(speed[a]["throughput_fps_by_round"], speed[b]["throughput_fps_by_round"])
    return out


def rounds_problem(speed: Mapping[str, Mapping[str, Any]], ratios: Mapping[str, float], rounds: int) -> str | None:
    """Why a file's speed figures are not what its rounds give (an edited file), or None. Each run's
    throughput is the median of its rounds, its ratio to the reference and every THROUGHPUT_PAIRS
    ratio the median of the per-round ratios: all recomputed, none trusted."""
    for name, row in speed.items():
        if len(row["throughput_fps_by_round"]) != rounds:
            return f"{name} has {len(row['throughput_fps_by_round'])} rounds where the file says {rounds}"
    for name, row in speed.items():
        by_round = row["throughput_fps_by_round"]
        if not same_figure(row["throughput_fps"], statistics.median(by_round)):
            return f"{name}'s throughput {row['throughput_fps']:.2f} fps is not the median of its rounds"
        if "throughput_over_fp32" in row and REFERENCE in speed:
            over = statistics.median(per_round(by_round, speed[REFERENCE]["throughput_fps_by_round"]))
            if not same_figure(row["throughput_over_fp32"], over):
                return f"{name}'s throughput over {REFERENCE} is not what its rounds give"
    for name, value in ratios.items():
        if name not in THROUGHPUT_PAIRS:
            continue
        if name not in (by_round := ratios_by_round(speed, [name])):
            return f"it carries {name} but not the rounds of {' and '.join(THROUGHPUT_PAIRS[name])}"
        if not same_figure(value, derived := statistics.median(by_round[name])):
            return f"{name} {value:.4f} is not what its rounds give ({derived:.4f})"
    return None


def medians(by_round: dict[str, list[float]]) -> dict[str, float]:
    """The figure each ratio is reported and judged as: the median of its per-round values."""
    return {name: statistics.median(values) for name, values in by_round.items()}


def spread(values: list[float] | None, digits: int = 3) -> str:
    """The range of per-round ratios, as ' (rounds low-high)'; '' for one round or none. Over n rounds
    the range holds the true median with probability 1 - 2^(1-n) whatever the noise's shape (both
    ends on one side of the median has probability 2^-n each): 75% at 3 rounds, 94% at 5."""
    if not values or len(values) < 2:
        return ""
    return f" (rounds {min(values):.{digits}f}-{max(values):.{digits}f})"


def ratio_line(ratios: dict[str, float], by_round: dict[str, list[float]]) -> str:
    """A run's ratios as printed and in report.md: 'name median (rounds low-high), ...'."""
    return ", ".join(f"{name} {value:.3f}{spread(by_round.get(name))}" for name, value in ratios.items())


def ratio_sentence(entry: dict[str, Any]) -> str:
    """report.md's line under a tier's or a fleet class's table: its ratios and their spread over rounds."""
    by_round = ratios_by_round(entry["speed"], THROUGHPUT_PAIRS)
    return f"Ratios (median of per-round ratios): {ratio_line(entry['ratios'], by_round)}."


def speed_table(speed: dict[str, Any]) -> list[str]:
    """Markdown rows of an interleaved run's speed entries (bench.json's `speed`, a fleet class's):
    precision hint, latency median / p90, throughput and its within-round ratio to the reference."""
    lines = [f"| run | precision hint | latency ms (median / p90) | throughput fps | throughput / {REFERENCE} |",
             "|---|---|---:|---:|---:|"]  # fmt: skip
    for name, run in speed.items():
        over = run.get("throughput_over_fp32")
        lines.append(f"| {name} | {run['precision_hint']} | {run['latency_ms']['median']:.1f} / "
                     f"{run['latency_ms']['p90']:.1f} | {run['throughput_fps']:.1f} | "
                     f"{'-' if over is None else f'{over:.3f}'} |")  # fmt: skip
    return lines
