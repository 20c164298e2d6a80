"""The Lightweight OpenPose paper's published figures, and ours beside them.

Osokin 2018, "Real-time 2D Multi-Person Pose Estimation on CPU: Lightweight OpenPose":
- Table 2, the original OpenPose (VGG-19 to conv4_2, conv4_3_CPM, conv4_4_CPM, two-branch stages),
- Table 5, Lightweight OpenPose, both at 368x368 in "GFLOPs" with one decimal,
- Table 6, network speed on a 6-core CPU in FP32 at 456x256.
The paper's "GFLOPs" turn out to be multiply-accumulates (`matched_convention` measures it), and
its totals are sums of its rounded parts (3.7 + 0.3 + 0.3 + 1.3 = 5.6), so a total is compared
both exactly and as the paper would have summed our parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from poseforge.analysis.complexity import PAPER_INPUT, Complexity, count

PAPER = "Osokin 2018, Real-time 2D Multi-Person Pose Estimation on CPU: Lightweight OpenPose"

# Table 6: frames per second of the network alone, FP32, 456x256, 6-core Core i7-6850K.
PAPER_SPEED = {"baseline_fps": 2.47, "proposed_fps": 33.0, "ratio": 13.4, "cpu": "Core i7-6850K (6 cores)"}
PAPER_PARAMS = {"lightweight-openpose": 4.1e6}  # Table 5's 4.1 M


@dataclass(frozen=True)
class Row:
    """One line of a paper table: its printed figure and our count of the same thing."""

    label: str
    paper: float  # as printed, in the paper's "GFLOPs"
    decimals: int  # printed precision
    macs: int
    other_ops: int
    components: tuple[Row, ...] = ()  # for a total: the rows the paper added up

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    def difference(self, factor: int = 1) -> float:
        """Our figure (MACs x `factor`: 1 for MACs, 2 for FLOPs) relative to the printed one."""
        return factor * self.gmacs / self.paper - 1

    def as_printed(self, elementwise: bool = False) -> float:
        """Our figure rounded as the paper prints it; a total sums its rounded parts, as the paper did."""
        if self.components:
            return round(sum(row.as_printed(elementwise) for row in self.components), self.decimals)
        return round((self.macs + (self.other_ops if elementwise else 0)) / 1e9, self.decimals)

    def reproduced(self, elementwise: bool = False) -> bool:
        return self.as_printed(elementwise) == self.paper


def _row(label: str, paper: float, complexity: Complexity, *parts: str, decimals: int = 1) -> Row:
    summed = complexity.group(*parts)
    return Row(label, paper, decimals, summed.macs, summed.other_ops)


def _total(label: str, paper: float, rows: list[Row], decimals: int = 1) -> Row:
    return Row(label, paper, decimals, sum(r.macs for r in rows), sum(r.other_ops for r in rows), tuple(rows))


def table5(input_hw: tuple[int, int] = PAPER_INPUT) -> tuple[Complexity, list[Row]]:
    """Lightweight OpenPose (upstream architecture, one refinement stage) against Table 5."""
    c = count("lightweight-openpose", input_hw, {"num_refinement_stages": 1})
    parts = [
        _row("dilated MobileNet v1 (backbone)", 3.7, c, "backbone"),
        _row("conv4_3 (CPM: align 1x1 + 3 depthwise-separable)", 0.3, c, "conv4_3"),
        _row("conv4_4 (CPM: 3x3 128->128)", 0.3, c, "conv4_4"),
        _row("initial stage", 1.3, c, "initial"),
    ]
    refinement = _row("refinement stage 1", 3.4, c, "refinement 1")
    rows = [*parts, _total("total up to the initial stage", 5.6, parts), refinement]
    rows.append(_total("total (2 stages)", 9.0, [*parts, refinement], decimals=0))
    return c, rows


def table2(input_hw: tuple[int, int] = PAPER_INPUT) -> tuple[Complexity, Complexity, list[Row]]:
    """The original OpenPose (openpose-vgg19) with 2 and 6 stages against Table 2."""
    two = count("openpose-vgg19", input_hw, {"num_refinement_stages": 1})
    six = count("openpose-vgg19", input_hw, {"num_refinement_stages": 5})
    parts = [
        _row("VGG-19 to conv4_2 (backbone)", 37.8, two, "backbone"),
        _row("conv4_3_CPM (3x3 512->256)", 2.5, two, "conv4_3"),
        _row("conv4_4_CPM (3x3 256->128)", 0.6, two, "conv4_4"),
        _row("initial stage (stage 1)", 2.2, two, "initial"),
    ]
    refinement = _row("each refinement stage", 18.6, two, "refinement 1")
    later = [_row(f"refinement stage {k}", 18.6, six, f"refinement {k}") for k in range(2, 6)]
    rows = [
        *parts,
        refinement,
        _total("total, 2 stages", 61.7, [*parts, refinement]),
        _total("total, 6 stages", 136.1, [*parts, refinement, *later]),
    ]
    return two, six, rows


def matched_convention(rows: list[Row]) -> tuple[str, dict[str, float]]:
    """Which convention the printed figures follow: the one with the smallest worst-case difference.

    Returns its name ("MACs" or "FLOPs = 2 x MACs") and each convention's worst |difference|.
    """
    worst = {
        name: max(abs(row.difference(factor)) for row in rows)
        for name, factor in (("MACs", 1), ("FLOPs = 2 x MACs", 2))
    }
    return min(worst, key=worst.get), worst
