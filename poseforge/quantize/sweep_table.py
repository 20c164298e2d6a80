"""A sweep's outputs: sweep.json (the table as data), sweep.md (the table) and sweep.png (AP against fps)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from poseforge.artifacts import REFERENCE
from poseforge.documents import SWEEP, write_document
from poseforge.fileio import MARKDOWN_MARK, PNG_MARK, atomic_output
from poseforge.text import plural
from poseforge.validate.speed.interleaved import per_round


def write_outputs(out: Path, table: dict[str, Any]) -> list[Path]:
    written = [out / "sweep.json", out / "sweep.md", out / "sweep.png"]
    write_document(written[0], SWEEP, table)
    with atomic_output(written[1]) as tmp:
        tmp.write_text(markdown(table))
    plot(table, written[2])
    return written


def _interval(entry: dict[str, Any]) -> str:
    interval = entry["interval"]
    return f"{entry['ap']:.4f}" + (f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval else "")


def held_out_command(table: dict[str, Any]) -> str:
    """`poseforge agreement` on the rows' calibration folder: every row scored on the images none of
    them calibrated on, against the FP32 IR, paired with the first row."""
    done = [row for row in table["rows"] if "error" not in row]
    folders = sorted({row["chosen_on"]["folder"] for row in done}) or ["CALIBRATION_FOLDER"]
    artifacts = " ".join("--artifact " + shlex.quote(row["name"] + "=" + row["ir"]) for row in done)
    versus = f" --versus {shlex.quote(done[0]['name'])}" if done else ""
    return (
        f"poseforge agreement {shlex.quote(table['fp32']['ir'])} --images {shlex.quote(folders[0])} "
        f"--protocol {table['scored_on']['protocol']} {artifacts}{versus}"
    )


def over_spread(row: dict[str, Any]) -> str:
    """' [low-high]': the range of a row's per-round INT8 / FP32 throughput ratios ('' for one round,
    or a row cached before rounds were kept)."""
    by_round = row.get("throughput_fps_by_round")
    ratios = by_round and per_round(by_round["ir-int8"], by_round[REFERENCE])
    return f" [{min(ratios):.2f}-{max(ratios):.2f}]" if ratios and len(ratios) > 1 else ""


def same_set(row: dict[str, Any]) -> bool:
    """True where a row was calibrated on images of the set it is scored on: its AP is optimistic."""
    return row["chosen_on"]["overlaps_validation"]


def markdown(table: dict[str, Any]) -> str:
    fp32, scored = table["fp32"], table["scored_on"]
    done = [row for row in table["rows"] if "error" not in row]
    classes = sorted({row["machine"]["class"] for row in done})
    lines = [
        f"# INT8 settings sweep: {plural(len(table['rows']), 'row')}",
        "",
        f"Scored on **{scored['name']}** ({scored['protocol']} protocol, {plural(scored['people'], 'person', 'people')}"
        f"); {REFERENCE} AP {_interval(fp32)} on the same images. Each row is quantized from the FP32 IR "
        f"(sha256 {fp32['sha256'][:12]}), calibrated on the images it was chosen on, and validated; `AP - FP32` is "
        "paired (the same image resamples), marked * only where its interval excludes 0. Throughput (THROUGHPUT "
        "hint, f32) is measured with the FP32 IR's in the row's own process, in interleaved rounds: `fps` is the "
        "median of the rounds, `x FP32` the median of the per-round ratios (their range in brackets). "
        f"Machine class {', '.join(classes) or '-'}; scheduler {table['scheduler'].get('scheduler', '?')}.",
        "",
        "| # | row | chosen on (calibration) | scored on | AP [95% interval] | AP - FP32 [paired 95%] | agreement "
        "[95%] | fps | x FP32 | peaks kept |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for number, row in enumerate(table["rows"], 1):
        if "error" in row:
            lines.append(f"| {number} | {row['name']} | failed: {row['error'][:200]} | | | | | | | |")
            continue
        d = row["difference"]
        mark = " *" if d["low"] > 0 or d["high"] < 0 else ""
        chosen, on = row["chosen_on"], row["scored_on"]
        peaks, agreed = row["heatmap_peak_retention"], row.get("agreement")
        agreement = f"{agreed['ap']:.3f} [{agreed['low']:.3f}, {agreed['high']:.3f}]" if agreed else "-"
        lines.append(
            f"| {number} | {row['name']} | {chosen['name']} ({chosen['images']} images)"
            f"{' **same set**' if same_set(row) else ''} | {on['name']} ({on['people']} people) | {_interval(row)} | "
            f"{d['ap']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]{mark} | {agreement} | {row['throughput_fps']:.1f} | "
            f"{row['over_fp32']:.2f}{over_spread(row)} | {'-' if peaks is None else f'{peaks:.1%}'} |"
        )
    overlapping = [row["name"] for row in done if same_set(row)]
    if overlapping:
        lines += ["", f"> **Warning:** {', '.join(overlapping)} chosen on the images {scored['name']} scores them "
                  "on: their AP is optimistic (calibration fitted to the images it is scored on). Calibrate on a "
                  "disjoint folder to compare them honestly."]  # fmt: skip
    if len(classes) > 1:
        lines += ["", f"> **Warning:** rows ran on machine classes {', '.join(classes)}: INT8 AP and speed follow "
                  "the class; compare rows of one class."]  # fmt: skip
    lines += [
        "",
        f"Choosing the best row here and quoting its AP on {scored['name']} is optimistic (the choice is fitted "
        "to these images): score the chosen settings on another set before claiming their AP. `agreement` is "
        f"each row's poses scored against {REFERENCE}'s on the same images (validate.accuracy.agreement: 1 for "
        f"{REFERENCE} itself; closeness to FP32, not accuracy). To rank the rows on images disjoint from both "
        f"their calibration and {scored['name']}, with paired intervals:",
        "",
        f"    {held_out_command(table)}",
        "",
        "![AP with its interval against throughput](sweep.png)",
        "",
        MARKDOWN_MARK,
        "",
    ]
    return "\n".join(lines)


def plot(table: dict[str, Any], path: Path) -> None:
    """Each row's AP with its 95% interval against its throughput, numbered as in the table; the FP32
    IR's AP and interval as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    fp32 = table["fp32"]
    if fp32["interval"]:
        ax.axhspan(fp32["interval"]["low"], fp32["interval"]["high"], color="0.85", label=f"{REFERENCE} 95% interval")
    ax.axhline(fp32["ap"], color="0.4", linestyle="--", label=f"{REFERENCE} AP {fp32['ap']:.4f}")
    for number, row in enumerate(table["rows"], 1):
        if "error" in row:
            continue
        interval = row["interval"] or {"low": row["ap"], "high": row["ap"]}
        err = [[row["ap"] - interval["low"]], [interval["high"] - row["ap"]]]
        ax.errorbar(row["throughput_fps"], row["ap"], yerr=err, fmt="o", color="C0", capsize=3)
        ax.annotate(str(number), (row["throughput_fps"], row["ap"]), xytext=(4, 4), textcoords="offset points",
                    fontsize=8)  # fmt: skip
    scored = table["scored_on"]
    ax.set_xlabel("INT8 throughput, fps (THROUGHPUT hint, f32)")
    ax.set_ylabel(f"COCO keypoint AP, 95% interval ({scored['name']}, {scored['people']} people)")
    ax.set_title("INT8 settings: accuracy against speed (numbers: rows of sweep.md)")
    ax.grid(alpha=0.3)
    # Below the axes: inside, it would cover a row's interval.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, metadata=PNG_MARK, format="png", bbox_inches="tight")
    plt.close(fig)
